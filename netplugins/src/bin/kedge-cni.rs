//! `kedge-cni`: kedge's bridge network as a CNI-spec plugin binary.
//!
//! Contract: invoked by a CNI runtime with the `CNI_*` environment and the network config on
//! stdin; prints the result or a CNI error object on stdout and exits 0 or 1. All the logic
//! is `kedge_netplugins::cni::run`.

use std::collections::HashMap;
use std::io::{Read, Write};

fn main() {
    // Non-UTF-8 variables cannot be CNI parameters; they are left out.
    let env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let mut input = Vec::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let code = match std::io::stdin().read_to_end(&mut input) {
        Ok(_) => kedge_netplugins::cni::run(&env, &input, &mut out),
        Err(e) => kedge_netplugins::cni::report_stdin_error(&e, &mut out),
    };
    let _ = out.flush();
    std::process::exit(code);
}
