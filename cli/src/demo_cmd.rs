//! `efm demo`: the main job. Two organisations exchange an arkivmelding over DPO, offline, on the
//! embedded sandbox: Maskinporten tokens, a signed Service Registry lookup, an ASiC-E signed by the
//! sender and encrypted to the receiver's certificate, the Altinn 3 broker both ways, and the
//! MOTTATT and LEVERT statuses back to the sender.
//!
//! Every step goes through the same efm-core code a real installation uses; only the URLs point at
//! the sandbox.

use efm_core::asic::DocumentSource;
use efm_core::auth::Tokens;
use efm_core::config::{Config, TransportKind};
use efm_core::crypto::keys::{subject_line, Identity};
use efm_core::http::Http;
use efm_core::package::{self, CreateOptions, OpenOptions, PackageInput};
use efm_core::registry::{Registry, DEFAULT_PROCESS};
use efm_core::sbd::{ArkivmeldingSbd, BusinessMessage, ReceiptStatus, Sbd};
use efm_core::transport::altinn2::Altinn2Broker;
use efm_core::transport::altinn3::Altinn3Broker;
use efm_core::transport::{Outgoing, SystemUserTokens, Transport};
use efm_core::{Error, ErrorKind};
use efm_sandbox::{Sandbox, SandboxOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SENDER: &str = "910075918";
const RECEIVER: &str = "910076787";

const USAGE: &str = "\
usage: efm demo [--dir DIR] [--size-mib N] [--altinn2]

Runs the whole DPO flow between two sandbox organisations, offline: a sandbox (Maskinporten,
Service Registry, Altinn brokers) starts on 127.0.0.1, organisation 910075918 looks up 910076787,
packs an arkivmelding with a document of N MiB (default 4), sends it over the Altinn 3 broker;
910076787 receives, decrypts, verifies and unpacks it, and sends MOTTATT and LEVERT back.
DIR keeps the sandbox and both organisations' data (default: a new temporary directory).
With --altinn2 the sender uses the Altinn 2 SOAP broker (streamed MTOM) while the receiver stays on
Altinn 3: the sandbox's brokers share one store, as Altinn's transition bridge does.";

/// One organisation's side: its configuration, identity and clients.
struct Org {
    config: Config,
    identity: Identity,
    http: Http,
    tokens: Arc<Tokens>,
}

impl Org {
    fn load(sandbox: &Sandbox, orgnr: &str, altinn2: bool) -> Result<Org, Error> {
        let mut path = sandbox.config_path(orgnr);
        if altinn2 {
            // The sandbox writes a second configuration with `"transport": "altinn2"`.
            path.set_file_name("config-altinn2.json");
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let config = Config::from_json(&text)?;
        let identity = Identity::load(&config.credentials.key)?;
        let http = Http::new(&config)?;
        let tokens = Arc::new(Tokens::with_identity(
            &config,
            Http::new(&config)?,
            &identity,
        )?);
        Ok(Org {
            config,
            identity,
            http,
            tokens,
        })
    }

    /// Run `f` with this organisation's broker (the one its configuration names).
    fn broker<T>(&self, f: impl FnOnce(&dyn Transport) -> Result<T, Error>) -> Result<T, Error> {
        match self.config.transport {
            TransportKind::Altinn3 => {
                let source = SystemUserTokens {
                    tokens: &self.tokens,
                    user: self.config.system_user.clone(),
                };
                let broker = Altinn3Broker::new(
                    &self.http,
                    &self.config.urls.altinn3_broker,
                    &source,
                    self.config.message_channel.clone(),
                );
                f(&broker)
            }
            TransportKind::Altinn2 => f(&Altinn2Broker::from_config(&self.http, &self.config)?),
        }
    }

    fn broker_name(&self) -> &'static str {
        match self.config.transport {
            TransportKind::Altinn3 => "Altinn 3 broker (REST)",
            TransportKind::Altinn2 => "Altinn 2 broker (SOAP, MTOM)",
        }
    }

    fn spool(&self, name: &str) -> Result<PathBuf, Error> {
        let dir = self.config.data_dir.join("spool");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        Ok(dir.join(name))
    }

    /// Pack and send one SBD (with documents, encrypted to `receiver_cert`, or none).
    fn send(
        &self,
        sbd: Sbd,
        documents: Vec<DocumentSource>,
        receiver_cert: &openssl::x509::X509,
        label: &str,
    ) -> Result<String, Error> {
        let receiver = sbd.receiver_org()?;
        let message_id = sbd.message_id().unwrap_or("message").to_string();
        let file = self.spool(&format!("out-{message_id}.zip"))?;
        let altinn2 = self.config.transport == TransportKind::Altinn2;
        let reference = package::senders_reference(&sbd, self.config.message_channel.as_deref());
        let opts = CreateOptions {
            // Altinn 3 carries sbd.json and asic.zip only (spec altinn3-broker.md 3.4); Altinn 2
            // also the broker manifest, whose SendersReference must be the one sent to Altinn.
            legacy_xml: altinn2,
            senders_reference: Some(reference.clone()),
            ..CreateOptions::default()
        };
        let started = Instant::now();
        package::create_file(
            &file,
            &PackageInput { sbd, documents },
            &self.identity,
            receiver_cert,
            &opts,
        )?;
        let size = std::fs::metadata(&file)
            .map_err(|e| Error::io("reading the package size", e))?
            .len();
        println!(
            "   packed {label}: {} ({} bytes, {:.0} ms)",
            file.display(),
            size,
            ms(started)
        );
        let mut body = std::fs::File::open(&file)
            .map_err(|e| Error::io(format!("opening {}", file.display()), e))?;
        let started = Instant::now();
        let mut shown = 0;
        let id = self.broker(|b| {
            b.upload(
                Outgoing {
                    sender: &self.config.organisation_number,
                    recipient: &receiver,
                    senders_reference: &reference,
                    body: &mut body,
                    size,
                },
                &mut |done, total| {
                    let pct = (done * 100).checked_div(total).unwrap_or(100);
                    if pct >= shown + 25 || done == total {
                        shown = pct;
                        println!("   upload {pct:>3}% ({done}/{total} bytes)");
                    }
                },
            )
        })?;
        println!(
            "   sent over the {} as transfer {id} ({:.0} ms)",
            self.broker_name(),
            ms(started)
        );
        let _ = std::fs::remove_file(&file);
        Ok(id)
    }

    /// Wait for the next transfer to us, download it, open it, confirm it.
    fn receive(&self, inbox: &Path) -> Result<package::OpenedPackage, Error> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let found = loop {
            let mut list = self.broker(|b| b.available())?;
            if !list.is_empty() {
                break list.remove(0);
            }
            if Instant::now() > deadline {
                return Err(Error::new(
                    ErrorKind::RemoteService,
                    "nothing arrived at the broker within 30 s",
                ));
            }
            // The broker publishes after its virus scan.
            std::thread::sleep(Duration::from_millis(200));
        };
        println!(
            "   transfer {} from {} is waiting at the {} ({} bytes)",
            found.id,
            found.sender,
            self.broker_name(),
            found.size
        );
        let file = self.spool(&format!("in-{}.zip", found.id))?;
        let mut out = std::fs::File::create(&file)
            .map_err(|e| Error::io(format!("creating {}", file.display()), e))?;
        let n = self.broker(|b| b.download(&found.id, &mut out, &mut |_, _| {}))?;
        drop(out);
        println!("   downloaded {n} bytes into {}", file.display());
        let sbd = package::read_sbd(&file)?;
        println!(
            "   sbd.json (read without decrypting): {} {} from {}",
            sbd.type_name(),
            sbd.message_id().unwrap_or("?"),
            sbd.sender_identifier().unwrap_or("?")
        );
        // One folder per message, named by its id (a UUID, checked when the SBD was validated).
        let target = inbox.join(sbd.message_id().unwrap_or(&found.id));
        let opened = package::open(&file, &self.identity, &target, &OpenOptions::default())?;
        self.broker(|b| b.confirm(&found.id))?;
        println!("   confirmed transfer {} at the broker", found.id);
        let _ = std::fs::remove_file(&file);
        Ok(opened)
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

struct DemoArgs {
    dir: Option<PathBuf>,
    size_mib: u64,
    altinn2: bool,
}

fn parse_args(args: &[String]) -> Result<Option<DemoArgs>, Error> {
    let mut dir = None;
    let mut altinn2 = false;
    let mut size_mib = 4;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(None);
            }
            "--dir" => dir = it.next().map(PathBuf::from),
            "--altinn2" => altinn2 = true,
            "--size-mib" => {
                size_mib = it.next().and_then(|s| s.parse().ok()).ok_or_else(|| {
                    Error::new(ErrorKind::InvalidArgument, "--size-mib takes a number")
                })?
            }
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("unknown argument {other:?}\n\n{USAGE}"),
                ))
            }
        }
    }
    Ok(Some(DemoArgs {
        dir,
        size_mib,
        altinn2,
    }))
}

/// A document of `mib` MiB with incompressible content, written in chunks.
fn write_document(path: &Path, mib: u64) -> Result<(), Error> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?,
    );
    let mut block = vec![0u8; 1024 * 1024];
    for _ in 0..mib {
        openssl::rand::rand_bytes(&mut block)
            .map_err(|e| Error::new(ErrorKind::Crypto, format!("random bytes: {e}")))?;
        f.write_all(&block)
            .map_err(|e| Error::io("writing the demo document", e))?;
    }
    f.flush()
        .map_err(|e| Error::io("writing the demo document", e))
}

const ARKIVMELDING: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<arkivmelding xmlns="http://www.arkivverket.no/standarder/noark5/arkivmelding">
  <system>efm demo</system>
  <meldingId>demo-1</meldingId>
  <tidspunkt>2026-01-01T12:00:00+01:00</tidspunkt>
  <antallFiler>1</antallFiler>
  <mappe xsi:type="saksmappe" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <tittel>Demo: søknad om tilskudd</tittel>
    <registrering xsi:type="journalpost">
      <tittel>Søknad om tilskudd</tittel>
      <dokumentbeskrivelse>
        <dokumenttype>Brev</dokumenttype>
        <tilknyttetRegistreringSom>Hoveddokument</tilknyttetRegistreringSom>
        <dokumentobjekt>
          <referanseDokumentfil>soknad.pdf</referanseDokumentfil>
        </dokumentobjekt>
      </dokumentbeskrivelse>
    </registrering>
  </mappe>
</arkivmelding>
"#;

pub fn run(args: &[String]) -> Result<(), Error> {
    let Some(DemoArgs {
        dir,
        size_mib,
        altinn2,
    }) = parse_args(args)?
    else {
        return Ok(());
    };
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("efm-demo-{}", std::process::id())),
    };
    let total = Instant::now();

    println!("1. starting the sandbox in {}", dir.display());
    let sandbox = Sandbox::start(SandboxOptions {
        dir: dir.join("sandbox"),
        port: 0,
        virus_scan_delay_ms: Some(300),
        ..SandboxOptions::default()
    })
    .map_err(|e| {
        Error::new(
            ErrorKind::Internal,
            format!("starting the sandbox: {}", e.0),
        )
    })?;
    println!(
        "   Maskinporten, Service Registry and Altinn brokers at {}",
        sandbox.base_url()
    );
    let a = Org::load(&sandbox, SENDER, altinn2)?;
    let b = Org::load(&sandbox, RECEIVER, false)?;
    println!(
        "   sender   {SENDER}: {}, on the {}",
        subject_line(&a.identity.certificate),
        a.broker_name()
    );
    println!(
        "   receiver {RECEIVER}: {}, on the {}",
        subject_line(&b.identity.certificate),
        b.broker_name()
    );

    println!("2. {SENDER} looks up {RECEIVER} in the Service Registry (Maskinporten token, signed answer)");
    let registry = Registry::new(&a.config, Http::new(&a.config)?, a.tokens.clone());
    let receiver_org = efm_core::ident::OrgNumber::parse(RECEIVER)?;
    let record = registry.dpo_record(&receiver_org, DEFAULT_PROCESS)?;
    println!(
        "   DPO for {DEFAULT_PROCESS}: service {}/{}; encrypting to {}",
        record.service_code.as_deref().unwrap_or("-"),
        record.service_edition_code.as_deref().unwrap_or("-"),
        subject_line(&record.certificate)
    );

    println!("3. {SENDER} packs and sends an arkivmelding with a {size_mib} MiB document");
    let docs = a.spool("demo-docs")?;
    std::fs::create_dir_all(&docs).map_err(|e| Error::io("creating the document folder", e))?;
    std::fs::write(docs.join("arkivmelding.xml"), ARKIVMELDING)
        .map_err(|e| Error::io("writing arkivmelding.xml", e))?;
    write_document(&docs.join("soknad.pdf"), size_mib)?;
    let sbd = ArkivmeldingSbd::new(a.config.organisation_number.clone(), receiver_org.clone())
        .build(time::OffsetDateTime::now_utc());
    let conversation = sbd.conversation_id().unwrap_or("?").to_string();
    println!(
        "   conversation {conversation}, message {}",
        sbd.message_id().unwrap_or("?")
    );
    a.send(
        sbd,
        vec![
            DocumentSource::new("arkivmelding.xml", docs.join("arkivmelding.xml")),
            DocumentSource::new("soknad.pdf", docs.join("soknad.pdf")),
        ],
        &record.certificate,
        "the arkivmelding",
    )?;

    println!("4. {RECEIVER} receives: download, decrypt, verify the signature and digests, unpack");
    let inbox = b.config.data_dir.join("inbox");
    let opened = b.receive(&inbox)?;
    let signer = opened
        .signer
        .as_ref()
        .map(subject_line)
        .unwrap_or_else(|| "(none)".into());
    println!("   signed by {signer}");
    for f in &opened.files {
        println!("   {} -> {} ({} bytes)", f.name, f.path.display(), f.size);
    }
    let original = std::fs::read(docs.join("soknad.pdf"))
        .map_err(|e| Error::io("reading the sent document", e))?;
    let received = opened
        .files
        .iter()
        .find(|f| f.name == "soknad.pdf")
        .ok_or_else(|| Error::new(ErrorKind::PackageInvalid, "soknad.pdf did not arrive"))?;
    let got =
        std::fs::read(&received.path).map_err(|e| Error::io("reading the received document", e))?;
    if got != original {
        return Err(Error::new(
            ErrorKind::DigestMismatch,
            "the received document differs from the one sent",
        ));
    }
    println!("   the document arrived byte for byte");

    println!("5. {RECEIVER} reports MOTTATT and LEVERT back; {SENDER} receives both");
    for status in [ReceiptStatus::Mottatt, ReceiptStatus::Levert] {
        let reply = opened
            .sbd
            .status_reply(status, time::OffsetDateTime::now_utc())?;
        b.send(reply, Vec::new(), &a.identity.certificate, status.name())?;
        let got = a.receive(&a.config.data_dir.join("inbox"))?;
        match &got.sbd.message {
            BusinessMessage::Status(s) => println!(
                "   {SENDER} sees status {} for conversation {}",
                s.status.name(),
                got.sbd.conversation_id().unwrap_or("?")
            ),
            other => println!("   {SENDER} got a {} message", other.type_name()),
        }
    }

    sandbox.stop();
    println!(
        "demo finished in {:.1} s; files are in {}",
        total.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(())
}
