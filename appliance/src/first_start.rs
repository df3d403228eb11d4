//! The first start's admin: created with a random one-time password, which is handed to the
//! installer without ever being written to a log.
//!
//! Under systemd, standard output is the journal: anything printed there is kept, readable by
//! whoever may read logs, and shipped wherever the journal goes. So the password is printed
//! only when standard output is a terminal (someone ran `ivmd run` by hand); it is always
//! written to `<data>/first-start-password` (mode 0600, only the box's own user reads it)
//! and shown on the front panel's idle screen. The file goes away once the admin's password
//! is no longer that one (changed by the admin, or reset from the panel or by another
//! admin), and stays across restarts until then, so a first start that failed after making
//! the admin (a port in use) does not lose the password.
//!
//! The file holds the password and the store's [`Store::password_stamp`] of it, so telling
//! whether it is still current costs a record read, not an argon2 run.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use ivm_store::{NewUser, Store, StoreError};

/// Name of the file that holds the first-start password, inside the data folder.
pub const PASSWORD_FILE: &str = "first-start-password";

/// Where the password file of `data` is.
pub fn password_file(data: &Path) -> PathBuf {
    data.join(PASSWORD_FILE)
}

/// On first start (no users yet) creates `admin` with a random one-time password, writes it
/// to [`PASSWORD_FILE`] and says where it is. On later starts, while that password has not
/// been replaced, says so again.
pub fn ensure_admin(store: &Store) -> anyhow::Result<()> {
    let file = password_file(store.data_dir());
    if store.user_count()? == 0 {
        let password = ivm_store::generate_password();
        // The password is written down before the admin exists: a crash between the two
        // leaves a file for nobody (replaced at the next start), never an admin whose
        // password was lost. Then again with the stamp that marks it current.
        crate::tls::write_atomic(&file, format!("{password}\n").as_bytes())?;
        let admin = store.create_user_one_time(NewUser {
            name: "admin".into(),
            extension: "100".into(),
            display_name: Some("Administrator".into()),
            password: password.clone(),
            admin: true,
        })?;
        let stamp = store
            .password_stamp(admin.guid)?
            .map(hex)
            .unwrap_or_default();
        crate::tls::write_atomic(&file, format!("{password}\n{stamp}\n").as_bytes())?;
        announce(&file, &password, true);
        return Ok(());
    }
    if let Some(password) = pending(store)? {
        announce(&file, &password, false);
    }
    Ok(())
}

/// Tells the person starting the box where the password is: on a terminal the password
/// itself, otherwise (a service, its output in the journal) only where to read it.
fn announce(file: &Path, password: &str, created: bool) {
    let what = if created {
        "first start: created user \"admin\" (extension 100)"
    } else {
        // Not "first start": this start made nothing; it reminds of what the first one made.
        "the admin has not chosen a password yet"
    };
    if std::io::stdout().is_terminal() {
        println!("ivmd: {what}; its one-time password: {password}");
    } else {
        println!(
            "ivmd: {what}; its one-time password is in {} (readable by this user only) and on the front panel",
            file.display()
        );
    }
    println!("ivmd: this password works for one login: choose your own then (the web client asks; `ivm passwd`)");
}

/// The first-start password while it is still the admin's, read from its file; removes the
/// file (and answers `None`) once the admin's password changed or the admin is gone. Cheap
/// (a file read and a record read): the front panel asks every few seconds.
pub fn pending(store: &Store) -> Result<Option<String>, StoreError> {
    let file = password_file(store.data_dir());
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut lines = text.lines();
    let (password, stamp) = (lines.next().unwrap_or_default(), lines.next());
    let current = match store.user_by_name("admin")? {
        Some(u) => store.password_stamp(u.guid)?.map(hex),
        None => None,
    };
    if stamp.is_none() || stamp.map(str::to_owned) != current {
        match std::fs::remove_file(&file) {
            Ok(()) => {
                tracing::info!(file = %file.display(), "the first-start password is no longer the admin's: file removed")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        return Ok(None);
    }
    Ok(Some(password.trim().to_owned()).filter(|p| !p.is_empty()))
}

fn hex(bytes: [u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
