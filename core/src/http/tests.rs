use super::*;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;

#[test]
fn url_policy() {
    assert!(check_url("https://maskinporten.no/token").is_ok());
    assert!(check_url("http://127.0.0.1:8080/x").is_ok());
    assert!(check_url("http://[::1]:8080/x").is_ok());
    assert!(check_url("http://localhost/x").is_ok());
    let e = check_url("http://example.org/x?secret=1").unwrap_err();
    assert!(e.message().contains("loopback"), "{e}");
    assert!(!e.message().contains("secret"), "{e}");
    assert!(check_url("ftp://127.0.0.1/").is_err());
    assert!(check_url("http:///x").is_err());
    assert!(check_url("http://127.0.0.1.evil.example/").is_err());
}

#[test]
fn form_encoding_matches_the_spec_example() {
    assert_eq!(
        form_urlencode(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", "a.b-c_d"),
        ]),
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b-c_d"
    );
    assert_eq!(
        form_urlencode(&[("q", "a b&c=d/é")]),
        "q=a+b%26c%3Dd%2F%C3%A9"
    );
}

#[test]
fn retry_after_forms() {
    assert_eq!(parse_retry_after("120"), Some(120));
    assert_eq!(
        parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(784111777)
    );
    assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(0));
    assert_eq!(parse_retry_after("soon"), None);
}

#[test]
fn remote_error_texts() {
    let r = RemoteErrorText::parse(
        br#"{"error":"invalid_grant","error_description":"MP-120 bad cert"}"#,
    );
    assert_eq!(r.code.as_deref(), Some("invalid_grant"));
    assert_eq!(r.description.as_deref(), Some("MP-120 bad cert"));
    let r = RemoteErrorText::parse(br#"{"error_code":"","error_description":"x"}"#);
    assert_eq!(r.code, None);
    let r = RemoteErrorText::parse(
        br#"{"code":"BRO-00006","title":"Unauthorized","detail":"no access"}"#,
    );
    assert_eq!(r.code.as_deref(), Some("BRO-00006"));
    assert_eq!(r.description.as_deref(), Some("no access"));
    assert_eq!(RemoteErrorText::parse(b"").description, None);
}

#[test]
fn snippets_are_bounded_and_redacted() {
    let long = "x".repeat(1000);
    assert!(snippet(&long, &[]).chars().count() <= MAX_SNIPPET_CHARS + 1);
    let s = snippet(
        "echo eyJsecret.token.value\nnext",
        &["eyJsecret.token.value"],
    );
    assert_eq!(s, "echo <redacted> next");
}

#[test]
fn log_filter_hides_http_trace() {
    assert!(!log_record_allowed("ureq_proto::util", log::Level::Trace));
    assert!(!log_record_allowed("ureq", log::Level::Trace));
    assert!(log_record_allowed("ureq", log::Level::Debug));
    assert!(log_record_allowed("efm_core::auth", log::Level::Trace));
}

/// A one-shot HTTP server on loopback that answers each connection with `answer`.
fn serve(answers: Vec<Vec<u8>>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for answer in answers {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                head.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            head.push_str(&String::from_utf8_lossy(&body));
            seen.push(head);
            let mut stream = stream;
            if !answer.is_empty() {
                stream.write_all(&answer).unwrap();
            }
            // Dropping the stream closes the connection (an empty answer = a dropped call).
        }
        seen
    });
    (url, handle)
}

fn http() -> Http {
    Http::with_settings(&HttpSettings {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn maps_statuses_and_streams() {
    let ok = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello".to_vec();
    let limited =
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                .to_vec();
    let down =
        b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            .to_vec();
    // The test server serves one request per connection, so it says so (no pooling).
    let (url, server) = serve(vec![ok, limited, down, Vec::new()]);
    let h = http();

    let mut body: &[u8] = b"streamed body";
    let r = h
        .post(&format!("{url}/up"))
        .header("Content-Type", "application/octet-stream")
        .send_reader(&mut body, Some(13))
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.content_type().as_deref(), Some("text/plain"));
    let mut out = Vec::new();
    assert_eq!(r.copy_to(&mut out).unwrap(), 5);
    assert_eq!(out, b"hello");

    let r = h.get(&format!("{url}/x")).call().unwrap();
    assert_eq!(r.status(), 429);
    let e = r.into_error("Test service", &[]);
    assert_eq!(e.kind(), ErrorKind::RemoteRateLimited);
    assert_eq!(e.detail().retry_after_secs, Some(7));
    assert_eq!(e.detail().http_status, Some(429));
    assert!(e.retryable());

    let e = h
        .get(&format!("{url}/y"))
        .call()
        .unwrap()
        .into_error("Test service", &[]);
    assert_eq!(e.kind(), ErrorKind::RemoteUnavailable);

    let e = h.get(&format!("{url}/z")).call().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionDropped, "{e:?}");
    let seen = server.join().unwrap();
    assert!(seen[0].starts_with("POST /up HTTP/1.1"), "{}", seen[0]);
    assert!(seen[0].to_ascii_lowercase().contains("content-length: 13"));
    assert!(seen[0].ends_with("streamed body"));
}

#[test]
fn a_failing_body_reader_is_not_a_network_error() {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk gone"));
            }
            self.0 -= 1;
            buf[0] = b'x';
            Ok(1)
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/up", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
    });
    let e = http()
        .post(&url)
        .send_reader(&mut Failing(3), None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e:?}");
    assert!(e.message().contains("disk gone"), "{e}");
}

#[test]
fn refused_and_timeout() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = http()
        .get(&format!("http://127.0.0.1:{port}/"))
        .call()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Network, "{e:?}");
    assert!(e.message().contains("refused"), "{e}");

    // A server that accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/slow", listener.local_addr().unwrap());
    let hold = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        drop(s);
    });
    let slow = Http::with_settings(&HttpSettings {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        ..Default::default()
    })
    .unwrap();
    let e = slow.get(&url).call().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e:?}");
    assert!(e.retryable());
    hold.join().unwrap();
}

#[test]
fn retries_only_retryable() {
    let mut calls = 0;
    let r: Result<u32> = with_retries(
        &RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
        |_| {
            calls += 1;
            if calls < 3 {
                Err(Error::new(ErrorKind::ConnectionDropped, "dropped"))
            } else {
                Ok(calls)
            }
        },
    );
    assert_eq!(r.unwrap(), 3);
    let mut calls = 0;
    let r: Result<()> = with_retries(&RetryPolicy::default(), |_| {
        calls += 1;
        Err(Error::new(ErrorKind::AuthInvalidClient, "no"))
    });
    assert!(r.is_err());
    assert_eq!(calls, 1);
    // A Retry-After beyond the policy's patience ends the retries at once.
    let mut calls = 0;
    let r: Result<()> = with_retries(&RetryPolicy::default(), |_| {
        calls += 1;
        Err(Error::new(ErrorKind::RemoteRateLimited, "slow").with_retry_after(3600))
    });
    assert_eq!(r.unwrap_err().detail().retry_after_secs, Some(3600));
    assert_eq!(calls, 1);
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn tls_pki() -> (
    openssl::x509::X509,
    openssl::x509::X509,
    openssl::pkey::PKey<openssl::pkey::Private>,
) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
    use openssl::x509::{X509Builder, X509NameBuilder};
    let name = |cn: &str| {
        let mut n = X509NameBuilder::new().unwrap();
        n.append_entry_by_text("CN", cn).unwrap();
        n.build()
    };
    let ca_key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name("efm test CA")).unwrap();
    b.set_issuer_name(&name("efm test CA")).unwrap();
    b.set_pubkey(&ca_key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    b.sign(&ca_key, MessageDigest::sha256()).unwrap();
    let ca = b.build();

    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(2).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name("127.0.0.1")).unwrap();
    b.set_issuer_name(ca.subject_name()).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .build(&b.x509v3_context(Some(&ca), None))
        .unwrap();
    b.append_extension(san).unwrap();
    b.sign(&ca_key, MessageDigest::sha256()).unwrap();
    (ca, b.build(), key)
}

#[test]
fn tls_is_verified_and_an_extra_ca_is_trusted() {
    use openssl::ssl::{SslAcceptor, SslMethod};
    let (ca, cert, key) = tls_pki();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/secure", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
        acceptor.set_private_key(&key).unwrap();
        acceptor.set_certificate(&cert).unwrap();
        let acceptor = acceptor.build();
        let mut handshakes = Vec::new();
        for _ in 0..2 {
            let (tcp, _) = listener.accept().unwrap();
            match acceptor.accept(tcp) {
                Ok(mut tls) => {
                    let mut buf = [0u8; 4096];
                    let _ = tls.read(&mut buf).unwrap();
                    tls.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .unwrap();
                    let _ = tls.shutdown();
                    handshakes.push(true);
                }
                Err(_) => handshakes.push(false),
            }
        }
        handshakes
    });

    // Without the CA: the server's certificate is not trusted.
    let e = http().get(&url).call().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e:?}");
    assert!(e.message().contains("ca_bundle"), "{e}");

    // With the CA in an extra bundle: accepted.
    let dir = std::env::temp_dir().join(format!("efm-http-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = dir.join("ca.pem");
    std::fs::write(&bundle, ca.to_pem().unwrap()).unwrap();
    let trusting = Http::with_settings(&HttpSettings {
        ca_bundle: Some(bundle),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        proxy: ProxySetting::None,
    })
    .unwrap();
    let r = trusting.get(&url).call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.read_text(100).unwrap(), "ok");
    assert_eq!(server.join().unwrap(), vec![false, true]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_ca_bundle_is_a_config_error() {
    let dir = std::env::temp_dir().join(format!("efm-http-badca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = dir.join("ca.pem");
    std::fs::write(&bundle, "not a certificate").unwrap();
    let e = Http::with_settings(&HttpSettings {
        ca_bundle: Some(bundle),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    assert_eq!(e.detail().field.as_deref(), Some("ca_bundle"));
    let _ = std::fs::remove_dir_all(&dir);
}
