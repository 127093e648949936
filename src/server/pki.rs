//! The cluster's certificates: a CA, the API server's serving certificate and the admin client
//! certificate, generated on first start under `<data-dir>/server/tls` with keys written 0600.
//!
//! Contract: [`ensure`] is idempotent; it keeps an existing CA and admin certificate and reissues
//! the serving certificate only when the wanted subject alternative names are not all covered by
//! the current one (a new `--tls-san` or node address).

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::clock::civil_from_days;

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("certificate generation: {0}")]
    Gen(#[from] rcgen::Error),
    #[error("bad subject alternative name {0:?}")]
    San(String),
}

/// Paths of the generated material.
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
}

impl Pki {
    pub fn at(dir: &Path) -> Pki {
        Pki {
            dir: dir.to_path_buf(),
            ca_cert: dir.join("server-ca.crt"),
            ca_key: dir.join("server-ca.key"),
            serving_cert: dir.join("serving-kube-apiserver.crt"),
            serving_key: dir.join("serving-kube-apiserver.key"),
            admin_cert: dir.join("client-admin.crt"),
            admin_key: dir.join("client-admin.key"),
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), PkiError> {
    // Write to a temporary name and rename so a crash never leaves half a key behind.
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(data).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

fn validity(params: &mut CertificateParams, years: i64) {
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    let (y, m, d) = civil_from_days(now.div_euclid(86_400) - 1);
    params.not_before = rcgen::date_time_ymd(y as i32, m as u8, d as u8);
    params.not_after = rcgen::date_time_ymd((y + years) as i32, m as u8, d.min(28) as u8);
}

fn name(cn: &str, org: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    if let Some(o) = org {
        dn.push(DnType::OrganizationName, o);
    }
    dn.push(DnType::CommonName, cn);
    dn
}

/// The subject alternative names the serving certificate must carry.
pub fn wanted_sans(
    hostname: &str,
    node_ips: &[IpAddr],
    first_service_ip: IpAddr,
    tls_sans: &[String],
) -> BTreeSet<String> {
    let mut s: BTreeSet<String> = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "127.0.0.1",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    if !hostname.is_empty() {
        s.insert(hostname.to_string());
    }
    s.insert(first_service_ip.to_string());
    for ip in node_ips {
        s.insert(ip.to_string());
    }
    for t in tls_sans {
        s.insert(t.clone());
    }
    s
}

fn san(s: &str) -> Result<SanType, PkiError> {
    match s.parse::<IpAddr>() {
        Ok(ip) => Ok(SanType::IpAddress(ip)),
        Err(_) => Ok(SanType::DnsName(
            s.to_string()
                .try_into()
                .map_err(|_| PkiError::San(s.to_string()))?,
        )),
    }
}

/// Create whatever is missing under `dir`; returns the paths.
pub fn ensure(dir: &Path, sans: &BTreeSet<String>) -> Result<Pki, PkiError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let pki = Pki::at(dir);
    if !pki.ca_cert.exists() || !pki.ca_key.exists() {
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::default();
        p.distinguished_name = name(&format!("kedge-server-ca@{}", std::process::id()), None);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut p, 10);
        let cert = p.self_signed(&key)?;
        write_file(&pki.ca_key, key.serialize_pem().as_bytes(), 0o600)?;
        write_file(&pki.ca_cert, cert.pem().as_bytes(), 0o644)?;
        // A new CA invalidates everything it signed before.
        let _ = fs::remove_file(&pki.serving_cert);
        let _ = fs::remove_file(&pki.admin_cert);
    }
    let ca_key_pem = fs::read_to_string(&pki.ca_key).map_err(io_err(&pki.ca_key))?;
    let ca_cert_pem = fs::read_to_string(&pki.ca_cert).map_err(io_err(&pki.ca_cert))?;
    let ca_key = KeyPair::from_pem(&ca_key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert_pem, ca_key)?;

    let sans_file = dir.join("serving-sans.txt");
    let have: BTreeSet<String> = fs::read_to_string(&sans_file)
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default();
    if !pki.serving_cert.exists() || !sans.is_subset(&have) {
        let all: BTreeSet<String> = have.union(sans).cloned().collect();
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::default();
        p.distinguished_name = name("kube-apiserver", None);
        p.subject_alt_names = all.iter().map(|s| san(s)).collect::<Result<_, _>>()?;
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        validity(&mut p, 1);
        let cert = p.signed_by(&key, &issuer)?;
        write_file(&pki.serving_key, key.serialize_pem().as_bytes(), 0o600)?;
        write_file(&pki.serving_cert, cert.pem().as_bytes(), 0o644)?;
        let list: Vec<&str> = all.iter().map(String::as_str).collect();
        write_file(&sans_file, list.join("\n").as_bytes(), 0o644)?;
    }
    if !pki.admin_cert.exists() || !pki.admin_key.exists() {
        let key = KeyPair::generate()?;
        let cert = client_cert(&issuer, &key, "system:admin", Some("system:masters"))?;
        write_file(&pki.admin_key, key.serialize_pem().as_bytes(), 0o600)?;
        write_file(&pki.admin_cert, cert.as_bytes(), 0o644)?;
    }
    Ok(pki)
}

/// Issue a serving certificate for a node agent's streaming endpoint (like the kubelet's
/// `serving-kubelet.crt`): names the node and its addresses, signed by the cluster CA in
/// `dir`. Returns (certificate PEM, key PEM).
pub fn node_serving_cert(
    dir: &Path,
    node: &str,
    ips: &[IpAddr],
) -> Result<(String, String), PkiError> {
    let pki = Pki::at(dir);
    let ca_key_pem = fs::read_to_string(&pki.ca_key).map_err(io_err(&pki.ca_key))?;
    let ca_cert_pem = fs::read_to_string(&pki.ca_cert).map_err(io_err(&pki.ca_cert))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert_pem, KeyPair::from_pem(&ca_key_pem)?)?;
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::default();
    p.distinguished_name = name(&format!("system:node:{node}"), Some("system:nodes"));
    let mut sans = vec![san(node)?, san("localhost")?, san("127.0.0.1")?];
    for ip in ips {
        sans.push(SanType::IpAddress(*ip));
    }
    p.subject_alt_names = sans;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    validity(&mut p, 1);
    let cert = p.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Issue a client certificate (PEM) for `user` in `group`.
pub fn client_cert(
    issuer: &Issuer<'_, KeyPair>,
    key: &KeyPair,
    user: &str,
    group: Option<&str>,
) -> Result<String, PkiError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = name(user, group);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    validity(&mut p, 1);
    Ok(p.signed_by(key, issuer)?.pem())
}

/// Write a kubeconfig for `server` with the admin credentials embedded.
pub fn write_kubeconfig(path: &Path, server: &str, pki: &Pki, mode: u32) -> Result<(), PkiError> {
    use base64::Engine;
    let b64 = |p: &Path| -> Result<String, PkiError> {
        let data = fs::read(p).map_err(io_err(p))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(data))
    };
    let doc = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: default\ncontexts:\n- context:\n    cluster: default\n    user: default\n  name: default\ncurrent-context: default\npreferences: {{}}\nusers:\n- name: default\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\n",
        ca = b64(&pki.ca_cert)?,
        cert = b64(&pki.admin_cert)?,
        key = b64(&pki.admin_key)?,
    );
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    write_file(path, doc.as_bytes(), mode)?;
    // The mode of an existing file is not changed by open(2); set it explicitly.
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
        .map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generates_once_and_reissues_serving_cert_for_new_sans() {
        let dir = tempfile::tempdir().unwrap();
        let sans = wanted_sans("node1", &[], "10.43.0.1".parse().unwrap(), &[]);
        let pki = ensure(dir.path(), &sans).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&pki.ca_key), 0o600);
        assert_eq!(mode(&pki.serving_key), 0o600);
        assert_eq!(mode(&pki.admin_key), 0o600);
        let ca = fs::read(&pki.ca_cert).unwrap();
        let serving = fs::read(&pki.serving_cert).unwrap();
        ensure(dir.path(), &sans).unwrap();
        assert_eq!(fs::read(&pki.serving_cert).unwrap(), serving);
        let more = wanted_sans(
            "node1",
            &[],
            "10.43.0.1".parse().unwrap(),
            &["k.example".into()],
        );
        ensure(dir.path(), &more).unwrap();
        assert_ne!(fs::read(&pki.serving_cert).unwrap(), serving);
        assert_eq!(fs::read(&pki.ca_cert).unwrap(), ca);
        let pem = fs::read_to_string(&pki.serving_cert).unwrap();
        let der = rustls_pemfile::certs(&mut pem.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
        let names = format!(
            "{:?}",
            x509.subject_alternative_name().unwrap().unwrap().value
        );
        for n in ["k.example", "kubernetes.default.svc.cluster.local", "node1"] {
            assert!(names.contains(n), "{n} missing from {names}");
        }
        let kc = dir.path().join("kc.yaml");
        write_kubeconfig(&kc, "https://127.0.0.1:6443", &pki, 0o600).unwrap();
        assert_eq!(mode(&kc), 0o600);
    }
}
