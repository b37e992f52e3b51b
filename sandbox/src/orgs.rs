//! Registering organisations: certificate and files on disk, the Maskinporten client, its system
//! user, the Altinn 2 login, and the ready client configuration.

use crate::pki::{self, OrgFiles};
use crate::state::{Altinn2User, Client, Org, SystemUserReg};
use crate::{SandboxError, Shared};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The organisations every sandbox has (valid mod-11 numbers, names as in Digdir's mocks).
pub const DEFAULT_ORGANISATIONS: [(&str, &str); 3] = [
    ("910075918", "BIRISTRAND OG TJØTTA"),
    ("910076787", "DØLEMO OG RAMBERG"),
    ("984661185", "SANDBOX DIREKTORAT"),
];

/// Scopes every sandbox client may ask for.
pub const DEFAULT_SCOPES: [&str; 6] = [
    "move/dpo.read",
    "eformidling:dpo",
    "altinn:broker.read",
    "altinn:broker.write",
    "move/dpe.read",
    "eformidling:dpe",
];

pub fn client_id(orgnr: &str) -> String {
    format!("MOVE_IP_{orgnr}")
}

pub fn system_user_name(orgnr: &str) -> String {
    format!("{orgnr}_integrasjonspunkt_systembruker_{orgnr}")
}

/// The Altinn 2 system user name (Altinn gives a number; ours is derived from the organisation).
pub fn altinn2_username(orgnr: &str) -> String {
    format!("2{orgnr}")
}

fn registry_file(dir: &Path) -> std::path::PathBuf {
    dir.join("organisations.json")
}

/// Register the default organisations, the ones added earlier in this directory and `extra`.
pub fn setup_all(shared: &Shared, extra: &[String]) -> Result<(), SandboxError> {
    let mut wanted: BTreeMap<String, String> = DEFAULT_ORGANISATIONS
        .iter()
        .map(|(o, n)| (o.to_string(), n.to_string()))
        .collect();
    if let Ok(text) = std::fs::read_to_string(registry_file(&shared.dir)) {
        let saved: BTreeMap<String, String> = serde_json::from_str(&text).map_err(|e| {
            SandboxError(format!(
                "{} is not valid ({e}); fix or delete it",
                registry_file(&shared.dir).display()
            ))
        })?;
        wanted.extend(saved);
    }
    for o in extra {
        wanted
            .entry(o.clone())
            .or_insert_with(|| format!("SANDBOX ORGANISASJON {o}"));
    }
    for (orgnr, name) in &wanted {
        add_organisation(shared, orgnr, name)?;
    }
    Ok(())
}

/// Create (or load) one organisation's identity and register it everywhere.
pub fn add_organisation(shared: &Shared, orgnr: &str, name: &str) -> Result<(), SandboxError> {
    efm_core::ident::OrgNumber::parse(orgnr).map_err(|e| SandboxError(e.to_string()))?;
    if name.trim().is_empty() || name.len() > 200 {
        return Err(SandboxError(format!(
            "organisation name for {orgnr} must be 1..200 characters"
        )));
    }
    let files = OrgFiles::new(&shared.dir, orgnr);
    let (pair, altinn2_password) = pki::load_or_create_org(&shared.pki.ca, &files, orgnr, name)?;
    write_config(shared, orgnr, &files)?;
    let der = pair
        .cert
        .to_der()
        .map_err(|e| SandboxError(format!("certificate DER: {e}")))?;
    {
        let mut st = shared.lock();
        st.orgs.insert(
            orgnr.to_string(),
            Org {
                orgnr: orgnr.to_string(),
                name: name.to_string(),
                cert: pair.cert.clone(),
            },
        );
        let cid = client_id(orgnr);
        let entry = st.clients.entry(cid.clone()).or_insert_with(|| Client {
            client_id: cid,
            orgnr: orgnr.to_string(),
            certificates: Vec::new(),
            keys: BTreeMap::new(),
            scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            system_users: Vec::new(),
        });
        if !entry.certificates.contains(&der) {
            entry.certificates.push(der);
        }
        if !entry.system_users.iter().any(|s| s.org == orgnr) {
            entry.system_users.push(SystemUserReg {
                org: orgnr.to_string(),
                external_ref: system_user_name(orgnr),
                id: uuid::Uuid::new_v4().to_string(),
                has_access: true,
            });
        }
        let user = altinn2_username(orgnr);
        st.altinn2_users.insert(
            user.clone(),
            Altinn2User {
                username: user,
                password: altinn2_password,
                orgnr: orgnr.to_string(),
                reportees: BTreeSet::new(),
            },
        );
    }
    // Remember organisations added at run time for the next start.
    let path = registry_file(&shared.dir);
    let mut saved: BTreeMap<String, String> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    if saved.get(orgnr).map(String::as_str) != Some(name) {
        saved.insert(orgnr.to_string(), name.to_string());
        let text = serde_json::to_string_pretty(&saved).unwrap_or_default();
        std::fs::write(&path, text)
            .map_err(|e| SandboxError(format!("writing {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Write `DIR/<orgnr>/config.json` in efm-core's configuration schema (absolute paths).
fn write_config(shared: &Shared, orgnr: &str, files: &OrgFiles) -> Result<(), SandboxError> {
    let p = |path: &Path| path.to_string_lossy().to_string();
    let config = json!({
        "organisation_number": orgnr,
        "environment": "sandbox",
        "sandbox_url": shared.base_url,
        "base_dir": p(&files.dir),
        "credentials": {
            "client_id": client_id(orgnr),
            "pkcs12": p(&files.pkcs12),
            "pkcs12_password_file": p(&files.pkcs12_password_file),
        },
        "data_dir": p(&files.data_dir),
        "transport": "altinn3",
        "system_user": {
            "org_id": format!("0192:{orgnr}"),
            "name": system_user_name(orgnr),
        },
        "altinn2": {
            "username": altinn2_username(orgnr),
            "password_file": p(&files.altinn2_password_file),
            "service_code": crate::state::DPO_SERVICE_CODE,
            "service_edition_code": crate::state::DPO_SERVICE_EDITION,
        },
    });
    let text = serde_json::to_string_pretty(&config).unwrap_or_default();
    std::fs::write(&files.config, text + "\n")
        .map_err(|e| SandboxError(format!("writing {}: {e}", files.config.display())))?;
    // The same client over the Altinn 2 SOAP broker.
    let mut altinn2 = config;
    altinn2["transport"] = json!("altinn2");
    let path = files.dir.join("config-altinn2.json");
    let text = serde_json::to_string_pretty(&altinn2).unwrap_or_default();
    std::fs::write(&path, text + "\n")
        .map_err(|e| SandboxError(format!("writing {}: {e}", path.display())))
}
