//! Fuzzes live state and the notification policy with a script of decoded events, statuses,
//! reconciles, settings and clock steps (see `abs_tray_core_fuzz::policy`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = abs_tray_core_fuzz::policy(data);
});
