//! Fuzzes the socket's packet layer: one Engine.IO text frame through the socket's parser and,
//! when it is an event, the decoder (see `abs_tray_core_fuzz::packet`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = abs_tray_core_fuzz::packet(data);
});
