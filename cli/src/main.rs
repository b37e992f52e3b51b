mod doctor_cmd;
mod lookup_cmd;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("lookup") => lookup_cmd::run(&args[1..]),
        Some("doctor") => doctor_cmd::run(&args[1..]),
        _ => {
            eprintln!("usage: efm <lookup|doctor> [options]   (efm <command> --help)");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("efm: {e}");
        std::process::exit(1);
    }
}
