//! The `cyberbrain` binary; the commands live in `cyberbrain_http::cli`.

fn main() -> std::process::ExitCode {
    cyberbrain_http::cli::main()
}
