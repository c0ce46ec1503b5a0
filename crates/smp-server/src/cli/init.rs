//! `smp-server init`: configuration, certificates, fingerprint.

use std::fs;

use simplex_transport::{GeneratedCredentials, SignAlgorithm};

use super::{fail, ini_content, server_address, InitOptions, Paths, DEFAULT_PORT, INI_FILE};

/// `smp-server init`.
pub fn init(paths: &Paths, opts: &InitOptions) -> std::io::Result<()> {
    let ini_path = paths.cfg.join(INI_FILE);
    if ini_path.exists() {
        return Err(fail(format!(
            "Error: server is already initialized ({} exists).\nRun `smp-server start`.",
            ini_path.display()
        )));
    }
    fs::create_dir_all(&paths.cfg)?;
    fs::create_dir_all(&paths.log)?;
    let alg = SignAlgorithm::parse(&opts.sign_algorithm)
        .ok_or_else(|| fail("bad sign algorithm: ED25519 or ED448"))?;
    let host = opts.fqdn.clone().unwrap_or_else(|| opts.ip.clone());
    let creds = GeneratedCredentials::generate(alg, &host).map_err(fail)?;
    creds.write_to_dir(&paths.cfg).map_err(fail)?;
    let password = if opts.no_password {
        None
    } else {
        opts.password.clone()
    };
    fs::write(
        &ini_path,
        ini_content(&host, password.as_deref(), !opts.disable_store_log),
    )?;
    let fp = fs::read_to_string(paths.cfg.join("fingerprint"))?
        .trim()
        .to_owned();
    println!(
        "Server initialized, please provide additional server information in {}.",
        ini_path.display()
    );
    println!("Run `smp-server start` to start server.");
    println!("----------");
    println!(
        "You should store CA private key securely and delete it from the server.\nCA private key location:\n{}",
        paths.cfg.join("ca.key").display()
    );
    println!("----------");
    println!("SMP server v{} (simplex-rs)", env!("CARGO_PKG_VERSION"));
    println!("Fingerprint: {fp}");
    println!(
        "Server address: {}",
        server_address(&fp, password.as_deref(), &host, DEFAULT_PORT)
    );
    Ok(())
}
