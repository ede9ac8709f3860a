//! The `operational.tls` block: keys, aliases, file rules and exact messages.

use std::collections::BTreeMap;

use super::*;
use crate::config::{VmcpConfig, VmcpConfigFile};

fn load(text: &str) -> Result<VmcpConfig, ConfigError> {
    VmcpConfig::from_yaml_str_with(text, "t.yaml", &BTreeMap::new())
}

#[test]
fn no_tls_block_means_the_platform_store() {
    let config = load("backends: []\n").unwrap();
    assert_eq!(config.tls, TlsSettings::default());
    assert_eq!(config.tls.ca, None);
    // An empty block is the same, and neither is printed back.
    let file = VmcpConfigFile::from_yaml_str("operational:\n  tls: {}\n", "t.yaml").unwrap();
    assert!(file.operational.tls.is_empty());
    let printed = serde_yaml_ng::to_string(&file).unwrap();
    assert!(!printed.contains("tls"), "{printed}");
}

#[test]
fn unknown_keys_in_the_tls_block_are_errors() {
    let err = load("operational:\n  tls:\n    ca_bundle: x.pem\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("t.yaml:3:5: operational.tls: unknown field `ca_bundle`, expected"),
        "{err}"
    );
}

#[cfg(feature = "tls")]
mod with_tls {
    use std::path::{Path, PathBuf};

    use super::*;

    /// A directory under the system temp dir, removed on drop; unique per test and process.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("vmcp-tls-config-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, content).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn with_ca_file(path: &Path) -> String {
        format!("operational:\n  tls:\n    ca_file: '{}'\n", path.display())
    }

    fn ca_pem(name: &str) -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn a_ca_file_loads_every_certificate_in_order_relative_to_the_config_file() {
        let dir = TempDir::new("bundle");
        let (first, second) = (ca_pem("first CA"), ca_pem("second CA"));
        dir.write("ca.pem", format!("# a comment line\n{first}\n{second}"));
        // camelCase alias and a path relative to the config file's directory.
        let config_path = dir.write("vmcp.yaml", "operational:\n  tls:\n    caFile: ca.pem\n");
        let config = VmcpConfig::from_yaml_file_with(&config_path, &BTreeMap::new()).unwrap();
        let ca = config.tls.ca.expect("a CA bundle");
        assert_eq!(ca.path, dir.0.join("ca.pem"));
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let expected: Vec<Vec<u8>> = [first, second]
            .iter()
            .map(|pem| {
                CertificateDer::from_pem_slice(pem.as_bytes())
                    .unwrap()
                    .to_vec()
            })
            .collect();
        assert_eq!(ca.certificates, expected);
        // Debug shows the count, not the bytes.
        assert_eq!(
            format!("{ca:?}"),
            format!(
                "CaBundle {{ path: {:?}, certificates: 2 }}",
                dir.0.join("ca.pem")
            )
        );
    }

    #[test]
    fn https_backends_load() {
        let config =
            load("backends:\n  - name: a\n    url: https://mcp.example.com:8443/mcp\n").unwrap();
        assert_eq!(config.backends[0].url, "https://mcp.example.com:8443/mcp");
    }

    #[test]
    fn bad_ca_files_are_config_errors_naming_the_key_and_the_file() {
        let dir = TempDir::new("bad");
        let missing = dir.0.join("missing.pem");
        let empty = dir.write("empty.pem", "");
        let key_only = dir.write(
            "key.pem",
            rcgen::KeyPair::generate().unwrap().serialize_pem(),
        );
        let not_der = dir.write(
            "not-der.pem",
            "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
        );
        let broken = dir.write(
            "broken.pem",
            "-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n-----END CERTIFICATE-----\n",
        );
        let big = dir.write("big.pem", vec![b'#'; MAX_CA_FILE_BYTES as usize + 1]);
        let cases: Vec<(PathBuf, String)> = vec![
            (
                missing.clone(),
                format!(
                    "cannot read {}: No such file or directory (os error 2)",
                    missing.display()
                ),
            ),
            (
                dir.0.clone(),
                format!("{} is a directory, not a regular file", dir.0.display()),
            ),
            (
                PathBuf::from("/dev/zero"),
                "/dev/zero is a character device, not a regular file".to_owned(),
            ),
            (
                big.clone(),
                format!(
                    "{} is larger than 1 MiB (the limit for input files)",
                    big.display()
                ),
            ),
            (
                empty.clone(),
                format!(
                    "{} contains no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    empty.display()
                ),
            ),
            (
                key_only.clone(),
                format!(
                    "{} contains no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    key_only.display()
                ),
            ),
            (
                not_der.clone(),
                format!(
                    "{}: certificate 1 cannot be used as a CA: invalid peer certificate: BadEncoding",
                    not_der.display()
                ),
            ),
        ];
        for (path, message) in cases {
            let err = load(&with_ca_file(&path)).unwrap_err().to_string();
            assert_eq!(err, format!("t.yaml: operational.tls.ca_file: {message}"));
        }
        let err = load(&with_ca_file(&broken)).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "t.yaml: operational.tls.ca_file: {}: PEM block 1 is not a valid certificate: ",
                broken.display()
            )),
            "{err}"
        );
    }

    /// A FIFO would block the open until a writer comes; it is refused before opening.
    #[test]
    fn a_fifo_ca_file_is_refused_at_once() {
        let dir = TempDir::new("fifo");
        let fifo = dir.0.join("ca.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("run mkfifo");
        assert!(made.success());
        let err = load(&with_ca_file(&fifo)).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "t.yaml: operational.tls.ca_file: {} is a FIFO, not a regular file",
                fifo.display()
            )
        );
    }
}

#[cfg(not(feature = "tls"))]
mod without_tls {
    use super::*;

    #[test]
    fn a_ca_file_names_the_missing_feature() {
        let err = load("operational:\n  tls:\n    ca_file: /etc/ca.pem\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "t.yaml: operational.tls.ca_file (\"/etc/ca.pem\") is set, but this vmcp was built \
             without TLS support (cargo feature `tls` of vmcp-core)"
        );
    }

    #[test]
    fn https_backends_name_the_key_the_redacted_url_and_the_feature() {
        let err = load("backends:\n  - name: a\n    url: 'https://h:8443/mcp?api_key=LEAK1'\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "t.yaml: backends[0].url (\"https://h:8443/mcp?api_key=<redacted>\") uses https, but \
             this vmcp was built without TLS support (cargo feature `tls` of vmcp-core); rebuild \
             with it, or terminate TLS in front of vmcp (e.g. in a sidecar)"
        );
    }
}
