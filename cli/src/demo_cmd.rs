//! `efm demo`: the main job. Two organisations exchange an arkivmelding over DPO, offline, on the
//! embedded sandbox, through the same `client::Client` an archive system uses (and the C ABI wraps):
//! Maskinporten tokens, a signed Service Registry lookup, an ASiC-E signed by the sender and
//! encrypted to the receiver's certificate, the Altinn broker both ways, the durable incoming queue
//! (peek, pop, delete), and the MOTTATT and LEVERT statuses back to the sender.

use efm_core::client::{Client, SendDocument, SendRequest};
use efm_core::config::{Config, TransportKind};
use efm_core::crypto::keys::subject_line;
use efm_core::ident::OrgNumber;
use efm_core::registry::DEFAULT_PROCESS;
use efm_core::sbd::ReceiptStatus;
use efm_core::{Error, ErrorKind};
use efm_sandbox::{Sandbox, SandboxOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SENDER: &str = "910075918";
const RECEIVER: &str = "910076787";

fn load_config(sandbox: &Sandbox, orgnr: &str, altinn2: bool) -> Result<Config, Error> {
    let mut path = sandbox.config_path(orgnr);
    if altinn2 {
        // The sandbox writes a second configuration with `"transport": "altinn2"`.
        path.set_file_name("config-altinn2.json");
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    Config::from_json(&text)
}

fn broker_name(config: &Config) -> &'static str {
    match config.transport {
        TransportKind::Altinn3 => "Altinn 3 broker (REST)",
        TransportKind::Altinn2 => "Altinn 2 broker (SOAP, MTOM)",
    }
}

/// Poll until `done` holds (the broker publishes a file after its virus scan).
fn poll_until(
    client: &Client,
    what: &str,
    wait: Duration,
    done: impl Fn(&Client) -> bool,
) -> Result<(), Error> {
    let deadline = Instant::now() + wait;
    loop {
        let summary = client.poll()?;
        if let Some(e) = summary.errors.first() {
            println!("   (poll: {})", e.message);
        }
        if done(client) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::new(
                ErrorKind::RemoteService,
                format!("{what} did not happen within {} s", wait.as_secs()),
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Run the whole DPO flow against the embedded sandbox.
///
/// Runs the whole DPO flow between two sandbox organisations, offline: a sandbox (Maskinporten,
/// Service Registry, Altinn brokers) starts on 127.0.0.1, organisation 910075918 looks up
/// 910076787, packs an arkivmelding with a document of N MiB, sends it over the Altinn 3 broker;
/// 910076787 receives, decrypts, verifies and unpacks it, and sends MOTTATT and LEVERT back.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Keep the sandbox and both organisations' data here [default: a new temporary directory]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The size of the document
    #[arg(long, value_name = "N", default_value_t = 4)]
    size_mib: u64,
    /// Send over the Altinn 2 SOAP broker (streamed MTOM) to a receiver on Altinn 3, as during
    /// Altinn's transition (the sandbox's brokers share one store, as Altinn's bridge did).
    /// Altinn 2 was switched off in production in June 2026: this is the route of test and
    /// legacy installations, not a production one
    #[arg(long)]
    altinn2: bool,
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

pub fn run(args: DemoArgs) -> Result<(), Error> {
    let DemoArgs {
        dir,
        size_mib,
        altinn2,
    } = args;
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("efm-demo-{}", std::process::id())),
    };
    let total = Instant::now();

    println!("1. starting the sandbox in {}", dir.display());
    // The sandbox's broker refuses files over 1 GiB by default, as a broker resource has a
    // limit; a bigger demo raises it rather than showing a refusal.
    let package_bound = (size_mib + 64) << 20;
    let max_file_size = (package_bound > 1 << 30).then_some(package_bound);
    let sandbox = Sandbox::start(SandboxOptions {
        dir: dir.join("sandbox"),
        port: 0,
        virus_scan_delay_ms: Some(300),
        max_file_size,
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
    if let Some(bytes) = max_file_size {
        println!("   (the sandbox broker's file size limit raised to {bytes} bytes for this demo)");
    }
    let a_config = load_config(&sandbox, SENDER, altinn2)?;
    let b_config = load_config(&sandbox, RECEIVER, false)?;
    println!("   sender   {SENDER} on the {}", broker_name(&a_config));
    if altinn2 {
        println!(
            "   (Altinn 2 was switched off in production in June 2026: a test and legacy route only)"
        );
    }
    println!("   receiver {RECEIVER} on the {}", broker_name(&b_config));
    let a = Client::new(a_config.clone())?;
    let b = Client::new(b_config.clone())?;

    println!("2. {SENDER} looks up {RECEIVER} in the Service Registry (Maskinporten token, signed answer)");
    let record = a
        .registry()
        .dpo_record(&OrgNumber::parse(RECEIVER)?, DEFAULT_PROCESS)?;
    println!(
        "   DPO for {DEFAULT_PROCESS}: service {}/{}; encrypting to {}",
        record.service_code.as_deref().unwrap_or("-"),
        record.service_edition_code.as_deref().unwrap_or("-"),
        subject_line(&record.certificate)
    );

    println!("3. {SENDER} sends an arkivmelding with a {size_mib} MiB document");
    let docs = dir.join("documents");
    std::fs::create_dir_all(&docs).map_err(|e| Error::io("creating the document folder", e))?;
    std::fs::write(docs.join("arkivmelding.xml"), ARKIVMELDING)
        .map_err(|e| Error::io("writing arkivmelding.xml", e))?;
    write_document(&docs.join("soknad.pdf"), size_mib)?;
    let started = Instant::now();
    let mut shown = 0;
    let sent = a.send(
        SendRequest {
            receiver: Some(RECEIVER.to_string()),
            documents: SendDocument::in_folder(&docs, &["arkivmelding.xml", "soknad.pdf"]),
            ..SendRequest::default()
        },
        &mut |done, total| {
            let pct = (done * 100).checked_div(total).unwrap_or(100);
            if pct >= shown + 25 || done == total {
                shown = pct;
                println!("   upload {pct:>3}% ({done}/{total} bytes)");
            }
        },
    )?;
    let id = sent.message_id.clone();
    println!(
        "   message {id} (conversation {}) packed, signed, encrypted and sent over the {} as transfer {} in {:.0} ms: {}",
        sent.conversation_id.as_deref().unwrap_or("?"),
        broker_name(&a_config),
        sent.transfer_id.as_deref().unwrap_or("?"),
        ms(started),
        sent.status.name()
    );

    if sent.status != ReceiptStatus::Sendt {
        let reason = sent
            .sending
            .as_ref()
            .and_then(|s| s.last_error.clone())
            .unwrap_or_else(|| "no reason recorded".into());
        return Err(Error::new(
            ErrorKind::RemoteService,
            format!(
                "the broker did not take the message ({}): {reason}",
                sent.status.name()
            ),
        ));
    }
    // Downloading and opening take time in proportion to the size (about 1 s per 10 MiB on a
    // slow disk, with room to spare).
    let wait = Duration::from_secs(30 + size_mib / 10);

    println!("4. {RECEIVER} polls, then takes the message from its queue: peek, pop (decrypt, verify, unpack), delete");
    poll_until(&b, "the delivery", wait, |b| {
        b.message(&id)
            .is_ok_and(|m| m.status == ReceiptStatus::InnkommendeMottatt)
    })?;
    let peeked = b
        .peek()?
        .ok_or_else(|| Error::new(ErrorKind::NotFound, "the queue is empty"))?;
    println!(
        "   peeked {} ({} from {}), locked until {}",
        peeked.info.message_id, peeked.info.document_type, peeked.info.sender, peeked.locked_until
    );
    let inbox = dir.join("inbox").join(&id);
    let opened = b.pop(&id, &inbox)?;
    println!(
        "   signed by {}",
        opened.signer.as_deref().unwrap_or("(nobody)")
    );
    for f in &opened.files {
        println!("   {} -> {} ({} bytes)", f.name, f.path.display(), f.size);
    }
    let received = opened
        .files
        .iter()
        .find(|f| f.name == "soknad.pdf")
        .ok_or_else(|| Error::new(ErrorKind::PackageInvalid, "soknad.pdf did not arrive"))?;
    let same = same_contents(&docs.join("soknad.pdf"), &received.path)
        .map_err(|e| Error::io("comparing the received document with the sent one", e))?;
    if !same {
        return Err(Error::new(
            ErrorKind::DigestMismatch,
            "the received document differs from the one sent",
        ));
    }
    println!("   the document arrived byte for byte");
    b.delete(&id)?;
    print_history(&b, &id, RECEIVER)?;

    println!("5. {SENDER} polls for the statuses {RECEIVER} sent back");
    poll_until(&a, "LEVERT", wait, |a| {
        a.message(&id)
            .is_ok_and(|m| m.status == ReceiptStatus::Levert)
    })?;
    print_history(&a, &id, SENDER)?;

    sandbox.stop();
    println!(
        "demo finished in {:.1} s; everything is in {}",
        total.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(())
}

/// Whether two files hold the same bytes, read side by side in 1 MiB pieces (a multi-GiB demo
/// document must not be read into memory whole: the demo shows that nothing is).
fn same_contents(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

fn print_history(client: &Client, id: &str, who: &str) -> Result<(), Error> {
    let names: Vec<&str> = client.status(id)?.iter().map(|s| s.status.name()).collect();
    println!("   {who} sees {}", names.join(" -> "));
    Ok(())
}
