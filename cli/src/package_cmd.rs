//! `efm package ...`: operator tools for DPO packages (the wire zip with `sbd.json` and the
//! CMS-encrypted, signed ASiC-E in `asic.zip`).
//!
//! `run` takes the arguments after `package`: `create`, `inspect` or `open`, each with `--help`.
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

const HELP: &str = "\
efm package: create, inspect and open DPO packages (sbd.json + CMS-encrypted ASiC-E)

USAGE:
    efm package create --sbd SBD.json --doc FILE [--doc FILE...] KEY --receiver-cert RECV.pem -o OUT.zip [options]
    efm package inspect PACKAGE.zip [--json]
    efm package open PACKAGE.zip KEY --into DIR [--expect-signer SENDER.pem] [--no-validate] [--json]

KEY (our enterprise certificate and private key), one of:
    --config CONFIG.json           the efm configuration (its credentials)
    --cert OURS.p12                PKCS#12; password from --password-env VAR (default
                                   EFM_PKCS12_PASSWORD) or --password-file FILE
    --cert OURS.pem --key OURS.key PEM certificate and unencrypted PEM private key

Run `efm package <command> --help` for the options of each command.
";

const CREATE_HELP: &str = "\
efm package create: pack documents into a signed ASiC-E, encrypt it for the receiver and write
the DPO package (manifest.xml, recipients.xml, sbd.json, asic.zip).

USAGE:
    efm package create --sbd SBD.json --doc FILE [--doc FILE...] KEY --receiver-cert RECV.pem -o OUT.zip

OPTIONS:
    --sbd FILE               the StandardBusinessDocument (JSON). Missing sender, ids, creation time
                             and expectedResponseDateTime are filled in as the integration point
                             does (sender = our organisation from --config or --org).
    --doc FILE               a document; its file name is its name in the ASiC-E (repeatable). The
                             main document is the one named by the SBD's hoveddokument, else the first.
    --receiver-cert FILE     the receiver's certificate (PEM), as the Service Registry gives it
    -o, --output FILE        where to write the package
    --org ORGNR              our organisation number, for filling in the SBD (default: from --config)
    --sha1                   sign with SHA1withRSA, as the Java integration point does (default SHA-256)
    --no-legacy-xml          leave out manifest.xml and recipients.xml (as IP v4 does)
    --senders-reference REF  SendersReference for manifest.xml (default: a random UUID)
    --no-validate            do not check the SBD as a receiver would
    --json                   print the summary as JSON
    KEY                      see `efm package --help`
";

const INSPECT_HELP: &str = "\
efm package inspect: show a package's SBD, entries and CMS recipient without any key.

USAGE:
    efm package inspect PACKAGE.zip [--json]
";

const OPEN_HELP: &str = "\
efm package open: decrypt asic.zip with our key, verify the ASiC-E signature and digests, and
extract the files into a directory (created if missing; existing files are never overwritten).

USAGE:
    efm package open PACKAGE.zip KEY --into DIR [options]

OPTIONS:
    --into DIR               where to put the files
    --expect-signer FILE     require the ASiC-E to be signed by this certificate (PEM)
    --no-validate            do not apply a receiver's SBD checks
    --max-size BYTES         largest file accepted in the ASiC-E (default 2 GiB)
    --json                   print the result as JSON
    KEY                      see `efm package --help`
";

fn usage(msg: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("{} (see `efm package --help`)", msg.into()),
    )
}

/// Parsed `--flag value` pairs, bare flags and positional arguments.
struct Args {
    pairs: Vec<(String, String)>,
    flags: Vec<String>,
    positional: Vec<String>,
}

impl Args {
    fn parse(args: &[String], with_value: &[&str], bare: &[&str]) -> Result<Args, Error> {
        let mut out = Args {
            pairs: vec![],
            flags: vec![],
            positional: vec![],
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if with_value.contains(&a.as_str()) {
                let v = it
                    .next()
                    .ok_or_else(|| usage(format!("{a} needs a value")))?;
                out.pairs.push((a.clone(), v.clone()));
            } else if bare.contains(&a.as_str()) {
                out.flags.push(a.clone());
            } else if a.starts_with('-') && a.len() > 1 {
                return Err(usage(format!("unknown option {a}")));
            } else {
                out.positional.push(a.clone());
            }
        }
        Ok(out)
    }
    fn get(&self, names: &[&str]) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, v)| v.as_str())
    }
    fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
    fn required(&self, names: &[&str]) -> Result<&str, Error> {
        self.get(names)
            .ok_or_else(|| usage(format!("{} is required", names[0])))
    }
}

const KEY_OPTS: [&str; 5] = [
    "--config",
    "--cert",
    "--key",
    "--password-env",
    "--password-file",
];

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
fn load_identity(a: &Args) -> Result<(Identity, Option<OrgNumber>), Error> {
    if let Some(cfg) = a.get(&["--config"]) {
        let config = load_config(cfg)?;
        let identity = Identity::load(&config.credentials.key)?;
        return Ok((identity, Some(config.organisation_number)));
    }
    let cert = a
        .get(&["--cert"])
        .ok_or_else(|| usage("give our key with --config or --cert"))?;
    if let Some(key) = a.get(&["--key"]) {
        let identity = Identity::load(&efm_core::config::KeySource::Pem {
            certificate: PathBuf::from(cert),
            private_key: PathBuf::from(key),
        })?;
        return Ok((identity, None));
    }
    let password = match (a.get(&["--password-file"]), a.get(&["--password-env"])) {
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

/// Run `efm package <args>`.
pub fn run(args: &[String]) -> Result<(), Error> {
    match args.first().map(String::as_str) {
        None | Some("--help" | "-h" | "help") => {
            print!("{HELP}");
            Ok(())
        }
        Some("create") => create(&args[1..]),
        Some("inspect") => inspect(&args[1..]),
        Some("open") => open(&args[1..]),
        Some(other) => Err(usage(format!("unknown package command {other:?}"))),
    }
}

fn wants_help(args: &[String]) -> bool {
    args.iter().any(|a| a == "--help" || a == "-h")
}

fn create(args: &[String]) -> Result<(), Error> {
    if wants_help(args) {
        print!("{CREATE_HELP}");
        return Ok(());
    }
    let mut with_value = vec![
        "--sbd",
        "--doc",
        "--receiver-cert",
        "-o",
        "--output",
        "--org",
        "--senders-reference",
    ];
    with_value.extend(KEY_OPTS);
    let a = Args::parse(
        args,
        &with_value,
        &["--sha1", "--no-legacy-xml", "--no-validate", "--json"],
    )?;
    if let Some(p) = a.positional.first() {
        return Err(usage(format!("unexpected argument {p:?}")));
    }
    let sbd_path = a.required(&["--sbd"])?;
    let out = a.required(&["-o", "--output"])?;
    let receiver_cert = read_cert(a.required(&["--receiver-cert"])?)?;
    let (identity, config_org) = load_identity(&a)?;
    let own = match a.get(&["--org"]) {
        Some(o) => Some(OrgNumber::parse(o).map_err(|e| e.with_field("--org"))?),
        None => config_org,
    };
    let json = std::fs::read(sbd_path).map_err(|e| Error::io(format!("reading {sbd_path}"), e))?;
    let mut sbd = Sbd::from_json(&json).map_err(|e| e.context(sbd_path))?;
    if let Some(own) = &own {
        sbd.fill_defaults(own, sbd::DEFAULT_TTL, None, sbd::now_oslo());
    }
    let documents: Vec<DocumentSource> = a
        .all("--doc")
        .into_iter()
        .map(|p| {
            let name = Path::new(p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| usage(format!("--doc {p:?} has no file name")))?;
            Ok(DocumentSource::new(name, p))
        })
        .collect::<Result<_, Error>>()?;
    let opts = CreateOptions {
        signature_digest: if a.has("--sha1") {
            SignatureDigest::Sha1
        } else {
            SignatureDigest::Sha256
        },
        legacy_xml: !a.has("--no-legacy-xml"),
        senders_reference: a.get(&["--senders-reference"]).map(str::to_string),
        validation: if a.has("--no-validate") {
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
    if a.has("--json") {
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

fn inspect(args: &[String]) -> Result<(), Error> {
    if wants_help(args) {
        print!("{INSPECT_HELP}");
        return Ok(());
    }
    let a = Args::parse(args, &[], &["--json"])?;
    let [path] = a.positional.as_slice() else {
        return Err(usage("inspect takes one package file"));
    };
    let info = package::inspect(Path::new(path))?;
    if a.has("--json") {
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

fn open(args: &[String]) -> Result<(), Error> {
    if wants_help(args) {
        print!("{OPEN_HELP}");
        return Ok(());
    }
    let mut with_value = vec!["--into", "--expect-signer", "--max-size"];
    with_value.extend(KEY_OPTS);
    let a = Args::parse(args, &with_value, &["--no-validate", "--json"])?;
    let [path] = a.positional.as_slice() else {
        return Err(usage("open takes one package file"));
    };
    let into = a.required(&["--into"])?;
    let (identity, _) = load_identity(&a)?;
    let mut opts = OpenOptions::default();
    if let Some(s) = a.get(&["--expect-signer"]) {
        opts.asic.expected_signer = Some(read_cert(s)?);
    }
    if let Some(m) = a.get(&["--max-size"]) {
        opts.asic.max_entry_size = m
            .parse()
            .map_err(|_| usage("--max-size takes a number of bytes"))?;
    }
    if a.has("--no-validate") {
        opts.validation = None;
    }
    let opened = package::open(Path::new(path), &identity, Path::new(into), &opts)?;
    let signer = opened.signer.as_ref().map(subject_line);
    if a.has("--json") {
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
