//! `efm package ...`: operator tools for DPO packages (the wire zip with `sbd.json` and the
//! CMS-encrypted, signed ASiC-E in `asic.zip`).
//!
//! `run` takes the parsed `create`, `inspect` or `open` command; each has a generated `--help`.
//! Passwords are never taken on the command line: a PKCS#12 password comes from an environment
//! variable or a file.

use efm_core::asic::{DocumentSource, SignatureDigest};
use efm_core::config::Config;
use efm_core::crypto::keys::{certificate_from_pem, subject_line, Identity};
use efm_core::ident::OrgNumber;
use efm_core::package::{self, CreateOptions, OpenOptions, PackageInput};
use efm_core::sbd::{self, Sbd, ValidationOptions};
use efm_core::{Error, ErrorKind};
use std::path::{Path, PathBuf};

/// Build, look into and open DPO packages (the zip on the wire).
///
/// A package is sbd.json plus the CMS-encrypted, signed ASiC-E in asic.zip (and, as the Java
/// integration point writes them, manifest.xml and recipients.xml).
#[derive(Debug, clap::Subcommand)]
pub enum PackageCommand {
    Create(CreateArgs),
    Inspect(InspectArgs),
    Open(OpenArgs),
}

/// Our enterprise certificate and private key: --config, or --cert with a PKCS#12 file, or --cert
/// and --key with PEM files.
#[derive(Debug, clap::Args)]
#[command(
    next_help_heading = "Our key (one of --config, --cert OURS.p12, --cert OURS.pem --key OURS.key)"
)]
pub struct KeyArgs {
    /// The efm configuration (its credentials)
    #[arg(long, value_name = "CONFIG.json")]
    config: Option<String>,
    /// Our certificate: PKCS#12, or PEM together with --key
    #[arg(long, value_name = "FILE")]
    cert: Option<String>,
    /// Our unencrypted PEM private key (with a PEM --cert)
    #[arg(long, value_name = "FILE")]
    key: Option<String>,
    /// The environment variable holding the PKCS#12 password [default: EFM_PKCS12_PASSWORD]
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// A file holding the PKCS#12 password
    #[arg(long, value_name = "FILE")]
    password_file: Option<String>,
}

/// Pack documents into a signed ASiC-E, encrypt it for the receiver and write the DPO package.
///
/// Writes the DPO package (manifest.xml, recipients.xml, sbd.json, asic.zip). Passwords are never
/// taken on the command line: a PKCS#12 password comes from an environment variable or a file.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The StandardBusinessDocument (JSON). Missing sender, ids, creation time and
    /// expectedResponseDateTime are filled in as the integration point does (sender = our
    /// organisation from --config or --org)
    #[arg(long, value_name = "SBD.json")]
    sbd: String,
    /// A document; its file name is its name in the ASiC-E (repeatable). The main document is the
    /// one named by the SBD's hoveddokument, else the first
    #[arg(long = "doc", value_name = "FILE")]
    docs: Vec<String>,
    /// The receiver's certificate (PEM), as the Service Registry gives it
    #[arg(long, value_name = "RECV.pem")]
    receiver_cert: String,
    /// Where to write the package
    #[arg(short, long, value_name = "OUT.zip")]
    output: String,
    /// Our organisation number, for filling in the SBD [default: from --config]
    #[arg(long, value_name = "ORGNR")]
    org: Option<String>,
    /// Sign with SHA1withRSA, as the Java integration point does [default: SHA-256]
    #[arg(long)]
    sha1: bool,
    /// Leave out manifest.xml and recipients.xml (as IP v4 does)
    #[arg(long)]
    no_legacy_xml: bool,
    /// SendersReference for manifest.xml [default: a random UUID]
    #[arg(long, value_name = "REF")]
    senders_reference: Option<String>,
    /// Do not check the SBD as a receiver would
    #[arg(long)]
    no_validate: bool,
    /// Print the summary as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    key: KeyArgs,
}

/// Show a package's SBD, entries and CMS recipient without any key.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The package
    #[arg(value_name = "PACKAGE.zip")]
    package: String,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

/// Decrypt, verify and extract a package.
///
/// Decrypts asic.zip with our key, verifies the ASiC-E signature and digests, and extracts the
/// files into a directory (created if missing; existing files are never overwritten).
#[derive(Debug, clap::Args)]
pub struct OpenArgs {
    /// The package
    #[arg(value_name = "PACKAGE.zip")]
    package: String,
    /// Where to put the files
    #[arg(long, value_name = "DIR")]
    into: String,
    /// Require the ASiC-E to be signed by this certificate (PEM)
    #[arg(long, value_name = "FILE")]
    expect_signer: Option<String>,
    /// Do not apply a receiver's SBD checks
    #[arg(long)]
    no_validate: bool,
    /// Largest file accepted in the ASiC-E [default: 2 GiB]
    #[arg(long, value_name = "BYTES")]
    max_size: Option<u64>,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    key: KeyArgs,
}

fn usage(msg: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("{} (see `efm package --help`)", msg.into()),
    )
}

fn load_config(path: &str) -> Result<Config, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading configuration {path}"), e))?;
    let mut value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::new(
            ErrorKind::InvalidJson,
            format!("configuration {path} is not JSON: {e}"),
        )
    })?;
    // Relative paths in the file are relative to the file, unless it says otherwise.
    if let Some(obj) = value.as_object_mut() {
        if !obj.contains_key("base_dir") {
            let dir = Path::new(path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            obj.insert(
                "base_dir".into(),
                serde_json::Value::String(dir.to_string_lossy().into_owned()),
            );
        }
    }
    Config::from_json(&value.to_string())
}

/// Our identity and (when known) organisation number from the KEY options.
fn load_identity(a: &KeyArgs) -> Result<(Identity, Option<OrgNumber>), Error> {
    if let Some(cfg) = &a.config {
        let config = load_config(cfg)?;
        let identity = Identity::load(&config.credentials.key)?;
        return Ok((identity, Some(config.organisation_number)));
    }
    let cert = a
        .cert
        .as_deref()
        .ok_or_else(|| usage("give our key with --config or --cert"))?;
    if let Some(key) = &a.key {
        let identity = Identity::load(&efm_core::config::KeySource::Pem {
            certificate: PathBuf::from(cert),
            private_key: PathBuf::from(key),
        })?;
        return Ok((identity, None));
    }
    let password = match (&a.password_file, a.password_env.as_deref()) {
        (Some(file), _) => std::fs::read_to_string(file)
            .map_err(|e| Error::io(format!("reading the PKCS#12 password file {file}"), e))?
            .trim_end_matches(['\r', '\n'])
            .to_string(),
        (None, var) => {
            let var = var.unwrap_or("EFM_PKCS12_PASSWORD");
            std::env::var(var).map_err(|_| {
                Error::new(
                    ErrorKind::ConfigCredential,
                    format!("the PKCS#12 password is read from environment variable {var}, which is not set (or use --password-file)"),
                )
            })?
        }
    };
    let der = std::fs::read(cert).map_err(|e| Error::io(format!("reading {cert}"), e))?;
    let p12 = openssl::pkcs12::Pkcs12::from_der(&der).map_err(|_| {
        Error::new(
            ErrorKind::KeyInvalid,
            format!("{cert} is not a PKCS#12 file; for PEM give --key as well"),
        )
    })?;
    let parsed = p12.parse2(&password).map_err(|_| {
        Error::new(
            ErrorKind::ConfigCredential,
            format!("cannot open {cert}: wrong password?"),
        )
    })?;
    let (Some(c), Some(k)) = (parsed.cert, parsed.pkey) else {
        return Err(Error::new(
            ErrorKind::KeyInvalid,
            format!("{cert} lacks a certificate or a private key"),
        ));
    };
    let chain = parsed
        .ca
        .map(|s| s.into_iter().collect())
        .unwrap_or_default();
    Ok((Identity::new(c, k, chain)?, None))
}

fn read_cert(path: &str) -> Result<openssl::x509::X509, Error> {
    let pem =
        std::fs::read(path).map_err(|e| Error::io(format!("reading certificate {path}"), e))?;
    certificate_from_pem(&pem).map_err(|e| e.context(path))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Run `efm package <command>`.
pub fn run(command: PackageCommand) -> Result<(), Error> {
    match command {
        PackageCommand::Create(args) => create(args),
        PackageCommand::Inspect(args) => inspect(args),
        PackageCommand::Open(args) => open(args),
    }
}

fn create(a: CreateArgs) -> Result<(), Error> {
    let sbd_path = a.sbd.as_str();
    let out = a.output.as_str();
    let receiver_cert = read_cert(&a.receiver_cert)?;
    let (identity, config_org) = load_identity(&a.key)?;
    let own = match &a.org {
        Some(o) => Some(OrgNumber::parse(o).map_err(|e| e.with_field("--org"))?),
        None => config_org,
    };
    let json = std::fs::read(sbd_path).map_err(|e| Error::io(format!("reading {sbd_path}"), e))?;
    let mut sbd = Sbd::from_json(&json).map_err(|e| e.context(sbd_path))?;
    if let Some(own) = &own {
        sbd.fill_defaults(own, sbd::DEFAULT_TTL, None, sbd::now_oslo());
    }
    let documents: Vec<DocumentSource> = a
        .docs
        .iter()
        .map(|p| {
            let name = Path::new(p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| usage(format!("--doc {p:?} has no file name")))?;
            Ok(DocumentSource::new(name, p))
        })
        .collect::<Result<_, Error>>()?;
    let opts = CreateOptions {
        signature_digest: if a.sha1 {
            SignatureDigest::Sha1
        } else {
            SignatureDigest::Sha256
        },
        legacy_xml: !a.no_legacy_xml,
        senders_reference: a.senders_reference.clone(),
        validation: if a.no_validate {
            None
        } else {
            Some(ValidationOptions::default())
        },
        ..CreateOptions::default()
    };
    let summary = package::create_file(
        Path::new(out),
        &PackageInput { sbd, documents },
        &identity,
        &receiver_cert,
        &opts,
    )?;
    if a.json {
        let files: Vec<_> = summary
            .asic
            .iter()
            .flat_map(|s| s.objects.iter())
            .map(|o| serde_json::json!({"name": o.uri, "mime": o.mime, "sha256": hex(&o.sha256)}))
            .collect();
        let v = serde_json::json!({
            "package": out,
            "message_id": summary.message_id,
            "conversation_id": summary.conversation_id,
            "senders_reference": summary.senders_reference,
            "entries": summary.entries,
            "asic_files": files,
            "cms_bytes": summary.cms_bytes,
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON"));
    } else {
        println!("wrote {out}");
        println!(
            "  messageId:      {}",
            summary.message_id.as_deref().unwrap_or("-")
        );
        println!(
            "  conversationId: {}",
            summary.conversation_id.as_deref().unwrap_or("-")
        );
        if let Some(r) = &summary.senders_reference {
            println!("  SendersReference (manifest.xml): {r}");
        }
        println!("  entries: {}", summary.entries.join(", "));
        if let Some(s) = &summary.asic {
            println!("  signed by: {}", subject_line(&identity.certificate));
            println!("  encrypted for: {}", subject_line(&receiver_cert));
            for o in &s.objects {
                println!("    {}  {}  sha256:{}", o.uri, o.mime, hex(&o.sha256));
            }
        }
    }
    Ok(())
}

fn sbd_summary(sbd: &Sbd) -> serde_json::Value {
    serde_json::json!({
        "type": sbd.type_name(),
        "message_id": sbd.message_id(),
        "conversation_id": sbd.conversation_id(),
        "process": sbd.process(),
        "sender": sbd.sender_identifier(),
        "receiver": sbd.receiver_identifier(),
        "expected_response_date_time": sbd.expected_response_date_time(),
        "hoveddokument": sbd.message.hoveddokument(),
    })
}

fn print_sbd(sbd: &Sbd) {
    let field = |v: Option<&str>| v.unwrap_or("-").to_string();
    println!("SBD:");
    println!("  type:           {}", sbd.type_name());
    println!("  messageId:      {}", field(sbd.message_id()));
    println!("  conversationId: {}", field(sbd.conversation_id()));
    println!("  process:        {}", field(sbd.process()));
    println!("  sender:         {}", field(sbd.sender_identifier()));
    println!("  receiver:       {}", field(sbd.receiver_identifier()));
    println!(
        "  expires:        {}",
        field(sbd.expected_response_date_time())
    );
    if let Some(h) = sbd.message.hoveddokument() {
        println!("  hoveddokument:  {h}");
    }
    if let Err(e) = sbd.validate(&ValidationOptions::default()) {
        println!("  receiver checks: FAIL: {e}");
    } else {
        println!("  receiver checks: ok");
    }
}

fn inspect(a: InspectArgs) -> Result<(), Error> {
    let path = &a.package;
    let info = package::inspect(Path::new(path))?;
    if a.json {
        let v = serde_json::json!({
            "sbd": info.sbd,
            "summary": sbd_summary(&info.sbd),
            "entries": info.entries.iter().map(|e| serde_json::json!({"name": e.name, "size": e.size, "deflated": e.deflated})).collect::<Vec<_>>(),
            "cms": info.cms,
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON"));
        return Ok(());
    }
    println!("package {path}");
    println!("entries:");
    for e in &info.entries {
        println!(
            "  {:<16} {:>12} bytes  {}",
            e.name,
            e.size,
            if e.deflated { "deflated" } else { "stored" }
        );
    }
    print_sbd(&info.sbd);
    match &info.cms {
        Some(cms) => {
            println!("asic.zip (CMS EnvelopedData, {}):", cms.content_cipher);
            for r in &cms.recipients {
                println!(
                    "  recipient: issuer {} serial {} ({})",
                    r.issuer.as_deref().unwrap_or("-"),
                    r.serial.as_deref().unwrap_or("-"),
                    r.key_transport
                );
            }
        }
        None => println!("no asic.zip (a status, receipt or file-less message)"),
    }
    Ok(())
}

fn open(a: OpenArgs) -> Result<(), Error> {
    let (path, into) = (&a.package, &a.into);
    let (identity, _) = load_identity(&a.key)?;
    let package_len = std::fs::metadata(path).map_or(0, |m| m.len());
    let mut opts = OpenOptions::for_package_size(package_len);
    if let Some(s) = &a.expect_signer {
        opts.asic.expected_signer = Some(read_cert(s)?);
    }
    if let Some(m) = a.max_size {
        opts.asic.max_entry_size = m;
    }
    if a.no_validate {
        opts.validation = None;
    }
    let opened = package::open(Path::new(path), &identity, Path::new(into), &opts)?;
    let signer = opened.signer.as_ref().map(subject_line);
    if a.json {
        let v = serde_json::json!({
            "sbd": opened.sbd,
            "summary": sbd_summary(&opened.sbd),
            "signer": signer,
            "files": opened.files.iter().map(|f| serde_json::json!({
                "name": f.name, "path": f.path, "mime": f.mime, "size": f.size, "sha256": hex(&f.sha256)
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON"));
        return Ok(());
    }
    print_sbd(&opened.sbd);
    match signer {
        Some(s) => println!("signed by: {s} (signature and digests verified)"),
        None => println!("no asic.zip: nothing to extract"),
    }
    for f in &opened.files {
        println!("  {}  {} bytes  {}", f.path.display(), f.size, f.mime);
    }
    Ok(())
}
