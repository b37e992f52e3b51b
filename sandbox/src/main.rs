fn main() {
    std::process::exit(efm_sandbox::run_cli(
        &std::env::args().skip(1).collect::<Vec<_>>(),
    ))
}
