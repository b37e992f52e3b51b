mod package_cmd;

fn main() {
    package_cmd::main_for_now()
}
