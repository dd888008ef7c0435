//! TLS for `wss://` servers, with rustls and the ring provider: the
//! platform's root certificates, plus the certificates in `--ca FILE`.
//!
//! A CA certificate in that file signs servers as usual (webpki's checks).
//! A server's own self-signed certificate in it — what `openssl req -x509`
//! makes, which says CA:TRUE — is trusted as exactly that certificate
//! (pinned): when the server presents those very bytes, its basicConstraints
//! and issuer do not matter, but the host name and the validity dates are
//! still checked, and the handshake signature is checked by the provider.
//!
//! A certificate that is not trusted is not a network failure: [`problem`]
//! finds it in an error and says what is wrong and what to do.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;

/// What to do about a certificate that is not trusted.
const CA_HINT: &str = "pass --ca FILE with the server's certificate or its CA";

/// The client's TLS configuration and the `--ca` file it was made with, if
/// any, so that a refused certificate can say which file was tried.
#[derive(Debug, Clone)]
pub struct Trust {
    pub config: Arc<rustls::ClientConfig>,
    pub ca: Option<PathBuf>,
}

impl Trust {
    /// [`client_config`] with `ca`, remembering the file.
    pub fn new(ca: Option<&Path>) -> Result<Self> {
        Ok(Self { config: client_config(ca)?, ca: ca.map(Path::to_path_buf) })
    }

    /// [`problem`], naming the `--ca` file that was tried.
    pub fn problem(&self, error: &(dyn std::error::Error + 'static)) -> Option<String> {
        let problem = problem(error)?;
        Some(match &self.ca {
            Some(ca) => format!("{problem} (tried --ca {})", ca.display()),
            None => problem,
        })
    }
}

impl From<Arc<rustls::ClientConfig>> for Trust {
    fn from(config: Arc<rustls::ClientConfig>) -> Self {
        Self { config, ca: None }
    }
}

/// The client TLS configuration: platform roots, and the certificates in `ca` if given.
pub fn client_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A broken certificate in the system store is not ours to fail on.
        let _ = roots.add(cert);
    }
    let mut pinned = Vec::new();
    if let Some(path) = ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect())
            .with_context(|| format!("cannot read the CA certificate {}", path.display()))?;
        if certs.is_empty() {
            bail!("no PEM certificate in {}", path.display());
        }
        for cert in certs {
            roots
                .add(cert.clone())
                .with_context(|| format!("the CA certificate in {} is not usable", path.display()))?;
            pinned.push(cert);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS setup")?;
    let config = if pinned.is_empty() {
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().context("TLS setup")?;
        builder.dangerous().with_custom_certificate_verifier(Arc::new(Pinning { webpki, pinned })).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// webpki's verification, and the pinned certificates from `--ca` trusted as
/// themselves when webpki refuses them only for being a CA or self-issued.
#[derive(Debug)]
struct Pinning {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for Pinning {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let refusal = match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(verified) => return Ok(verified),
            Err(e) => e,
        };
        let pinned = self.pinned.iter().any(|p| p.as_ref() == end_entity.as_ref());
        if !pinned || !only_about_the_issuer(&refusal) {
            return Err(refusal);
        }
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_name(&cert, server_name)?;
        check_dates(end_entity, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.webpki.root_hint_subjects()
    }
}

/// Whether webpki refused a certificate only over who issued it: a CA
/// certificate presented as the server's own, an issuer it does not know, or
/// an issuer of that name whose key did not sign it (a pinned leaf is itself
/// a trust anchor, and may share its subject with its real CA). A pinned
/// certificate needs no issuer; any other refusal (name, dates, encoding, key
/// usage) stands.
fn only_about_the_issuer(error: &rustls::Error) -> bool {
    match error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature) => true,
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            matches!(other.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity))
        }
        _ => false,
    }
}

/// Refuses a certificate outside its notBefore..notAfter.
fn check_dates(der: &[u8], now: UnixTime) -> Result<(), rustls::Error> {
    let (not_before, not_after) = der::validity(der).ok_or(CertificateError::BadEncoding)?;
    let at = |secs: i64| UnixTime::since_unix_epoch(Duration::from_secs(secs.max(0).unsigned_abs()));
    let time = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if time < not_before {
        return Err(CertificateError::NotValidYetContext { time: now, not_before: at(not_before) }.into());
    }
    if time > not_after {
        return Err(CertificateError::ExpiredContext { time: now, not_after: at(not_after) }.into());
    }
    Ok(())
}

/// Just enough DER to read a certificate's validity dates (RFC 5280 4.1),
/// which webpki checks but does not expose.
mod der {
    /// (tag, contents, rest) of the first element of `input`.
    fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n].iter().fold(0usize, |len, b| (len << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }

    fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (t, contents, rest) = element(input)?;
        (t == tag).then_some((contents, rest))
    }

    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const VERSION: u8 = 0xa0;
    const UTC_TIME: u8 = 0x17;
    const GENERALIZED_TIME: u8 = 0x18;

    /// notBefore and notAfter, in seconds since the Unix epoch.
    pub fn validity(cert: &[u8]) -> Option<(i64, i64)> {
        let (cert, _) = expect(cert, SEQUENCE)?;
        let (tbs, _) = expect(cert, SEQUENCE)?;
        let tbs = match expect(tbs, VERSION) {
            Some((_, rest)) => rest,
            None => tbs,
        };
        let (_, rest) = expect(tbs, INTEGER)?; // serialNumber
        let (_, rest) = expect(rest, SEQUENCE)?; // signature
        let (_, rest) = expect(rest, SEQUENCE)?; // issuer
        let (validity, _) = expect(rest, SEQUENCE)?;
        let (tag, not_before, rest) = element(validity)?;
        let not_before = time(tag, not_before)?;
        let (tag, not_after, _) = element(rest)?;
        Some((not_before, time(tag, not_after)?))
    }

    /// UTCTime `YYMMDDHHMMSSZ` (1950–2049) or GeneralizedTime `YYYYMMDDHHMMSSZ`.
    fn time(tag: u8, value: &[u8]) -> Option<i64> {
        let text = std::str::from_utf8(value).ok()?;
        let digits = text.strip_suffix('Z')?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (year, rest) = match (tag, digits.len()) {
            (UTC_TIME, 12) => {
                let yy: i32 = digits[..2].parse().ok()?;
                (if yy < 50 { 2000 + yy } else { 1900 + yy }, &digits[2..])
            }
            (GENERALIZED_TIME, 14) => (digits[..4].parse().ok()?, &digits[4..]),
            _ => return None,
        };
        let field = |i: usize| rest[i..i + 2].parse::<u32>().ok();
        let date = chrono::NaiveDate::from_ymd_opt(year, field(0)?, field(2)?)?;
        Some(date.and_hms_opt(field(4)?, field(6)?, field(8)?)?.and_utc().timestamp())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn reads_both_time_forms() {
            assert_eq!(time(UTC_TIME, b"700101000000Z"), Some(0));
            assert_eq!(time(UTC_TIME, b"491231235959Z"), Some(2_524_607_999));
            assert_eq!(time(GENERALIZED_TIME, b"20500101000000Z"), Some(2_524_608_000));
            for bad in [&b"7001010000Z"[..], b"700101000000", b"70010100000aZ", b"701301000000Z"] {
                assert_eq!(time(UTC_TIME, bad), None, "{bad:?}");
            }
            assert_eq!(time(0x04, b"700101000000Z"), None);
        }

        #[test]
        fn truncated_der_is_refused() {
            assert_eq!(validity(&[]), None);
            assert_eq!(validity(&[0x30, 0x82, 0x01]), None);
            assert_eq!(validity(&[0x30, 0x05, 0x30, 0x03, 0x02, 0x01]), None);
        }
    }
}

/// If `error` (or what caused it) is a certificate the client does not
/// trust, says what is wrong with it and what to do, in one sentence.
pub fn problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(e) = next {
        let tls = e
            .downcast_ref::<rustls::Error>()
            .or_else(|| e.downcast_ref::<std::io::Error>()?.get_ref()?.downcast_ref::<rustls::Error>());
        if let Some(rustls::Error::InvalidCertificate(cert)) = tls {
            return Some(explain(cert));
        }
        next = e.source();
    }
    None
}

fn date(t: UnixTime) -> String {
    let secs = i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp(secs, 0)
        .map_or_else(|| format!("{secs} s"), |d| d.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// `DnsName("chat.example")` → `chat.example`, as webpki lists a certificate's names.
fn presented(name: &str) -> &str {
    name.split_once('(').and_then(|(_, n)| n.strip_suffix(')')).map_or(name, |n| n.trim_matches('"'))
}

fn explain(error: &CertificateError) -> String {
    let untrusted = "the server's certificate is not trusted";
    match error {
        CertificateError::NotValidForNameContext { expected, presented: names } => {
            let expected = expected.to_str();
            let names: Vec<&str> = names.iter().map(|n| presented(n)).collect();
            let for_whom = if names.is_empty() {
                "it names no host".to_string()
            } else {
                format!("it is for {}", names.join(", "))
            };
            format!(
                "{untrusted}: it is not for {expected} ({for_whom}) — connect with a name it is for, \
                 or give the server a certificate for {expected}"
            )
        }
        CertificateError::NotValidForName => {
            format!("{untrusted}: it is not for this host name — connect with a name it is for")
        }
        CertificateError::ExpiredContext { not_after, .. } => {
            format!("{untrusted}: it expired on {} — the server needs a new certificate", date(*not_after))
        }
        CertificateError::NotValidYetContext { not_before, .. } => format!(
            "{untrusted}: it is not valid until {} — check this computer's clock, or the certificate's dates",
            date(*not_before)
        ),
        CertificateError::Expired | CertificateError::NotValidYet => {
            format!("{untrusted}: it is outside its dates — check this computer's clock, or renew the certificate")
        }
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            format!("{untrusted}: no CA this client trusts signed it — {CA_HINT}")
        }
        CertificateError::Other(other)
            if matches!(other.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity)) =>
        {
            format!(
                "{untrusted}: it is a self-signed CA certificate (CA:TRUE), and not one given with --ca — \
                 pass --ca FILE with the server's certificate"
            )
        }
        other => format!("{untrusted}: {other} — {CA_HINT}"),
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    use super::*;

    #[test]
    fn a_bad_ca_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.pem");
        let err = client_config(Some(&missing)).expect_err("missing");
        assert!(format!("{err:#}").contains("nope.pem"), "{err:#}");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "hello").expect("write");
        assert!(format!("{:#}", client_config(Some(&junk)).expect_err("junk")).contains("junk.pem"));
        assert!(client_config(None).is_ok());
    }

    /// A self-signed CA:TRUE certificate for `names`, valid between the two years.
    fn self_signed(names: &[&str], from: i32, to: i32) -> CertificateDer<'static> {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_string()).collect::<Vec<_>>()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(to, 1, 1);
        params.self_signed(&key).expect("cert").der().clone()
    }

    fn verifier(pinned: &[&CertificateDer<'static>]) -> Pinning {
        let mut roots = rustls::RootCertStore::empty();
        for cert in pinned {
            roots.add((*cert).clone()).expect("root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().expect("verifier");
        Pinning { webpki, pinned: pinned.iter().map(|c| (*c).clone()).collect() }
    }

    fn verify(v: &Pinning, cert: &CertificateDer<'static>, host: &str) -> Result<(), rustls::Error> {
        let name = ServerName::try_from(host.to_string()).expect("name");
        v.verify_server_cert(cert, &[], &name, &[], UnixTime::now()).map(|_| ())
    }

    fn explained(e: rustls::Error) -> String {
        problem(&e).expect("a certificate problem")
    }

    #[test]
    fn a_pinned_self_signed_ca_certificate_is_trusted_for_its_names_and_dates() {
        let cert = self_signed(&["localhost", "127.0.0.1"], 2020, 2099);
        let other = self_signed(&["localhost"], 2020, 2099);
        let v = verifier(&[&cert, &other]);
        verify(&v, &cert, "localhost").expect("pinned, right name");
        verify(&v, &cert, "127.0.0.1").expect("pinned, right address");
        let wrong = explained(verify(&v, &cert, "chat.example").expect_err("wrong name"));
        assert!(wrong.contains("not for chat.example (it is for localhost, 127.0.0.1)"), "{wrong}");

        let unpinned = self_signed(&["localhost"], 2020, 2099);
        let refused = explained(verify(&v, &unpinned, "localhost").expect_err("not pinned"));
        assert!(refused.contains("self-signed CA certificate") && refused.contains("--ca FILE"), "{refused}");
    }

    #[test]
    fn a_pinned_certificate_outside_its_dates_is_refused() {
        let expired = self_signed(&["localhost"], 2001, 2002);
        let v = verifier(&[&expired]);
        let e = explained(verify(&v, &expired, "localhost").expect_err("expired"));
        assert!(e.contains("expired on 2002-01-01 00:00 UTC"), "{e}");
        let future = self_signed(&["localhost"], 2090, 2099);
        let v = verifier(&[&future]);
        let e = explained(verify(&v, &future, "localhost").expect_err("not yet"));
        assert!(e.contains("not valid until 2090-01-01 00:00 UTC"), "{e}");
        assert_eq!(der::validity(&future), Some((3_786_912_000, 4_070_908_800)));
        // webpki checks the dates before the CA flag, so the pinned path's own
        // check is a second line: it must hold by itself.
        let now = UnixTime::now();
        assert!(matches!(
            check_dates(&expired, now),
            Err(rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. }))
        ));
        assert!(matches!(
            check_dates(&future, now),
            Err(rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext { .. }))
        ));
        assert_eq!(check_dates(&self_signed(&["localhost"], 2020, 2099), now), Ok(()));
        assert!(check_dates(b"junk", now).is_err());
    }

    #[test]
    fn problems_are_found_inside_io_errors() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let e = problem(&io).expect("found");
        assert!(e.starts_with("the server's certificate is not trusted: no CA") && e.ends_with(CA_HINT), "{e}");
        assert_eq!(problem(&std::io::Error::other("refused")), None);
    }
}
