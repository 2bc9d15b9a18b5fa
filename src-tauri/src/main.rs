// The desktop entry point; Android and iOS enter through `provide_app_lib::run` directly.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    provide_app_lib::run();
}
