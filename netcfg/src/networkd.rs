//! The systemd-networkd backend (the appliance image): one `.network` file per interface.
//!
//! The file is named `10-ivm-<interface>.network` so that it sorts before the image's own
//! files and is the one networkd uses for the interface.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cmd::{self, args};
use crate::{state, Addressing, NetError};

/// The path of the file this crate owns for `interface` in `dir`.
pub fn networkd_path(dir: &Path, interface: &str) -> PathBuf {
    dir.join(format!("10-ivm-{interface}.network"))
}

/// The text of the `.network` file for `interface` with `addressing`.
pub fn render_networkd(interface: &str, addressing: &Addressing) -> String {
    let mut s = String::new();
    s.push_str("# Written by ivmd (front panel network settings); changes here are overwritten.\n");
    let _ = write!(s, "[Match]\nName={interface}\n\n[Network]\n");
    match addressing {
        Addressing::Dhcp => s.push_str("DHCP=ipv4\n"),
        Addressing::Static(st) => {
            let _ = writeln!(s, "Address={}/{}", st.address, st.prefix);
            if let Some(gw) = st.gateway {
                let _ = writeln!(s, "Gateway={gw}");
            }
            for d in &st.dns {
                let _ = writeln!(s, "DNS={d}");
            }
        }
    }
    s
}

/// Writes the file and has networkd pick it up. On failure the old file is put back.
pub(crate) async fn apply(
    networkctl: &str,
    dir: &Path,
    interface: &str,
    addressing: &Addressing,
    limit: Duration,
) -> Result<(), NetError> {
    let path = networkd_path(dir, interface);
    let text = render_networkd(interface, addressing);
    let p = path.clone();
    let old = crate::blocking(move || {
        let old = match std::fs::read(&p) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(NetError::io(&p, e)),
        };
        state::write_atomic(&p, text.as_bytes())?;
        Ok(old)
    })
    .await?;
    let res = reload(networkctl, interface, limit).await;
    if let Err(e) = &res {
        tracing::warn!(error = %e, path = %path.display(), "networkd did not take the new file; restoring the old one");
        let p = path.clone();
        let restored = crate::blocking(move || match old {
            Some(b) => state::write_atomic(&p, &b),
            None => std::fs::remove_file(&p).map_err(|e| NetError::io(&p, e)),
        })
        .await;
        if restored.is_ok() && !matches!(e, NetError::MissingTool { .. }) {
            let _ = reload(networkctl, interface, limit).await;
        }
    }
    res
}

async fn reload(networkctl: &str, interface: &str, limit: Duration) -> Result<(), NetError> {
    cmd::run(networkctl, &args(&["reload"]), limit).await?;
    cmd::run(networkctl, &args(&["reconfigure", interface]), limit).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StaticV4;

    #[test]
    fn dhcp_file() {
        assert_eq!(
            render_networkd("eth0", &Addressing::Dhcp),
            "# Written by ivmd (front panel network settings); changes here are overwritten.\n\
             [Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n"
        );
    }

    #[test]
    fn static_file() {
        let s = Addressing::Static(StaticV4 {
            address: "192.168.10.5".parse().expect("ip"),
            prefix: 24,
            gateway: Some("192.168.10.1".parse().expect("ip")),
            dns: vec![
                "192.168.10.1".parse().expect("ip"),
                "9.9.9.9".parse().expect("ip"),
            ],
        });
        assert_eq!(
            render_networkd("enp1s0", &s),
            "# Written by ivmd (front panel network settings); changes here are overwritten.\n\
             [Match]\nName=enp1s0\n\n[Network]\nAddress=192.168.10.5/24\nGateway=192.168.10.1\n\
             DNS=192.168.10.1\nDNS=9.9.9.9\n"
        );
        let bare = Addressing::Static(StaticV4 {
            address: "10.0.0.2".parse().expect("ip"),
            prefix: 8,
            gateway: None,
            dns: vec![],
        });
        assert!(render_networkd("eth0", &bare).ends_with("[Network]\nAddress=10.0.0.2/8\n"));
        assert_eq!(
            networkd_path(Path::new("/etc/systemd/network"), "eth0"),
            Path::new("/etc/systemd/network/10-ivm-eth0.network")
        );
    }
}
