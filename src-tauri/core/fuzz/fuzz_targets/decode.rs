//! Fuzzes event decoding: `NAME\nJSON` through both of the core's decoding doors.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = abs_tray_core_fuzz::decode(data);
});
