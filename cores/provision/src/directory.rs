//! The list on the phone: a user's contacts and the office's other users as each brand's
//! remote phonebook XML, and the contact keys (BLF) in the per-phone files.
//!
//! Why generated per request and not written into the per-phone file: the directory is
//! fetched by the phone on its own schedule (or when the user opens it), so it follows user
//! changes without anyone re-provisioning. Every person appears twice: their extension
//! (call) and `*7<ext>` ("Message: <name>"), so picking that entry records a voice message
//! to them, on every brand, without a soft key each brand spells differently.
//!
//! | brand | root element | file the phone is pointed at |
//! |---|---|---|
//! | Yealink | `YealinkIPPhoneDirectory` | `remote_phonebook.data.1.url` |
//! | Polycom | `directory` / `item_list` | its own `<mac>-directory.xml`, fetched by itself |
//! | Cisco (both families) | `CiscoIPPhoneDirectory` | `directoryURL`, `XML_Directory_Service_URL` |
//! | Snom | `SnomIPPhoneDirectory` | `dkey_directory` (`url ...`) |
//! | Grandstream | `AddressBook` | `P331` (phonebook XML server path), `P330` = HTTP |

use crate::template::{escape, Escape};
use ivm_wire::phone::Vendor;

/// Most entries (people) in one directory: a small office has far fewer; the cap keeps a
/// box with a huge user table from sending a phone more than its memory holds.
pub const MAX_PEOPLE: usize = 500;

/// Contact keys programmed per phone: seven is what every brand's base models have
/// (Grandstream's first seven multi-purpose keys).
pub const MAX_KEYS: usize = 7;

/// The dial prefix that records a voice message to an extension.
pub const MESSAGE_PREFIX: &str = "*7";

/// One person on the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Name shown.
    pub name: String,
    /// Their extension.
    pub extension: String,
}

/// What a user's phone lists: their contacts first (in their order), then everyone else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    /// The user's own contact list.
    pub contacts: Vec<Contact>,
    /// The office's other users (not the user, not already a contact).
    pub others: Vec<Contact>,
}

impl Directory {
    fn people(&self) -> impl Iterator<Item = &Contact> {
        self.contacts
            .iter()
            .chain(self.others.iter())
            .take(MAX_PEOPLE)
    }

    /// Every entry: (shown name, number), a call entry then a message entry per person.
    fn entries(&self) -> Vec<(String, String)> {
        self.people()
            .flat_map(|c| {
                [
                    (c.name.clone(), c.extension.clone()),
                    (
                        format!("Message: {}", c.name),
                        format!("{MESSAGE_PREFIX}{}", c.extension),
                    ),
                ]
            })
            .collect()
    }
}

fn x(s: &str) -> String {
    escape(s, Escape::Xml)
}

/// The directory in `vendor`'s XML.
pub fn render(vendor: Vendor, dir: &Directory) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let entries = dir.entries();
    match vendor {
        Vendor::Yealink | Vendor::Cisco | Vendor::Snom => {
            let root = match vendor {
                Vendor::Yealink => "YealinkIPPhoneDirectory",
                Vendor::Cisco => "CiscoIPPhoneDirectory",
                _ => "SnomIPPhoneDirectory",
            };
            out.push_str(&format!(
                "<{root}>\n  <Title>Office</Title>\n  <Prompt>Call, or Message: to record one</Prompt>\n"
            ));
            for (name, number) in &entries {
                out.push_str(&format!(
                    "  <DirectoryEntry><Name>{}</Name><Telephone>{}</Telephone></DirectoryEntry>\n",
                    x(name),
                    x(number)
                ));
            }
            out.push_str(&format!("</{root}>\n"));
        }
        Vendor::Polycom => {
            // `fn`/`ln` first and last name (the whole name in `fn`), `ct` the number,
            // `sd` a speed-dial index, `bw` watch the contact's state (contacts only).
            out.push_str("<directory>\n  <item_list>\n");
            let contacts = dir.contacts.len().min(MAX_PEOPLE);
            for (i, (name, number)) in entries.iter().enumerate() {
                let person = i / 2;
                let watch = u8::from(i % 2 == 0 && person < contacts);
                out.push_str(&format!(
                    "    <item><fn>{}</fn><ln></ln><ct>{}</ct><sd>{}</sd><bw>{watch}</bw></item>\n",
                    x(name),
                    x(number),
                    i + 1
                ));
            }
            out.push_str("  </item_list>\n</directory>\n");
        }
        Vendor::Grandstream => {
            out.push_str("<AddressBook>\n");
            for (name, number) in &entries {
                out.push_str(&format!(
                    "  <Contact><LastName></LastName><FirstName>{}</FirstName><Phone><phonenumber>{}</phonenumber><accountindex>0</accountindex></Phone></Contact>\n",
                    x(name),
                    x(number)
                ));
            }
            out.push_str("</AddressBook>\n");
        }
    }
    out
}

/// The contact keys of `vendor`'s per-phone file for the first [`MAX_KEYS`] contacts:
/// each key watches the contact's extension (BLF, a SUBSCRIBE to the dialog event package)
/// and calls it when pressed. Text for the file's format, escaped; empty for Cisco's
/// enterprise firmware (its keys come from a call manager's button template).
pub fn keys(vendor: Vendor, format: KeyFormat, contacts: &[Contact], sip_server: &str) -> String {
    let mut out = String::new();
    for (i, c) in contacts.iter().take(MAX_KEYS).enumerate() {
        let (name, ext) = (&c.name, &c.extension);
        match (vendor, format) {
            // Key 1 is the line itself.
            (Vendor::Yealink, _) => {
                let k = i + 2;
                out.push_str(&format!(
                    "linekey.{k}.type = 16\nlinekey.{k}.line = 1\nlinekey.{k}.value = {}\nlinekey.{k}.label = {}\n",
                    ini(ext),
                    ini(name)
                ));
            }
            (Vendor::Polycom, _) => {
                let k = i + 1;
                out.push_str(&format!(
                    "  <attendant attendant.resourceList.{k}.address=\"{}\" attendant.resourceList.{k}.label=\"{}\" attendant.resourceList.{k}.type=\"normal\"/>\n",
                    x(ext),
                    x(name)
                ));
            }
            (Vendor::Snom, _) => {
                out.push_str(&format!(
                    "    <fkey idx=\"{i}\" context=\"active\" perm=\"R\">{}</fkey>\n",
                    x(&format!("blf <sip:{ext}@{sip_server}>"))
                ));
            }
            (Vendor::Grandstream, _) => {
                // Multi-purpose key i: mode P323+i (1 = BLF), account P301+3i (0 = the
                // first), name P302+3i, value P303+3i.
                let (mode, acct) = (323 + i, 301 + 3 * i);
                out.push_str(&format!(
                    "    <P{mode}>1</P{mode}>\n    <P{acct}>0</P{acct}>\n    <P{}>{}</P{}>\n    <P{}>{}</P{}>\n",
                    acct + 1,
                    x(name),
                    acct + 1,
                    acct + 2,
                    x(ext),
                    acct + 2
                ));
            }
            (Vendor::Cisco, KeyFormat::FlatProfile) => {
                // 3PCC: line key n+2 as a BLF + speed-dial key, not a second line.
                let k = i + 2;
                out.push_str(&format!(
                    "  <Extension_{k}_ ua=\"na\">Disabled</Extension_{k}_>\n  <Extended_Function_{k}_ ua=\"na\">{}</Extended_Function_{k}_>\n",
                    x(&format!("fnc=blf+sd;sub={ext}@{sip_server};nme={name}"))
                ));
            }
            (Vendor::Cisco, KeyFormat::Enterprise) => {}
        }
    }
    out
}

/// Which Cisco family a key block is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// Every brand but Cisco SPA/MPP.
    Enterprise,
    /// Cisco SPA / MPP (3PCC) `<flat-profile>`.
    FlatProfile,
}

/// A value on a `key = value` line: nothing that could start a new line.
fn ini(s: &str) -> String {
    escape(s, Escape::Ini)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, ext: &str) -> Contact {
        Contact {
            name: name.into(),
            extension: ext.into(),
        }
    }

    fn dir() -> Directory {
        Directory {
            contacts: vec![c("Bob <&>", "202"), c("Carol", "203")],
            others: vec![c("Dave", "204")],
        }
    }

    #[test]
    fn every_brand_lists_calls_and_messages_contacts_first() {
        for v in Vendor::ALL {
            let xml = render(v, &dir());
            assert!(!xml.contains("Bob <&>"), "{v}: escaped\n{xml}");
            assert!(xml.contains("Bob &lt;&amp;&gt;"), "{v}\n{xml}");
            let (bob, msg, dave) = (
                xml.find(">202<").expect("202"),
                xml.find(">*7202<").expect("*7202"),
                xml.find(">204<").expect("204"),
            );
            assert!(bob < msg && msg < dave, "{v}: order\n{xml}");
            assert!(xml.contains("Message: Carol"), "{v}");
            assert!(xml.contains(">*7204<"), "{v}");
        }
        assert!(render(Vendor::Yealink, &dir()).contains("<YealinkIPPhoneDirectory>"));
        assert!(render(Vendor::Cisco, &dir()).contains("<CiscoIPPhoneDirectory>"));
        assert!(render(Vendor::Snom, &dir()).contains("<SnomIPPhoneDirectory>"));
        assert!(render(Vendor::Grandstream, &dir()).contains("<AddressBook>"));
        let poly = render(Vendor::Polycom, &dir());
        // Contacts' call entries are watched; message entries and non-contacts are not.
        assert!(poly.contains("<ct>202</ct><sd>1</sd><bw>1</bw>"), "{poly}");
        assert!(
            poly.contains("<ct>*7202</ct><sd>2</sd><bw>0</bw>"),
            "{poly}"
        );
        assert!(poly.contains("<ct>204</ct><sd>5</sd><bw>0</bw>"), "{poly}");
    }

    #[test]
    fn a_huge_office_is_capped() {
        let d = Directory {
            contacts: vec![],
            others: (0..2 * MAX_PEOPLE)
                .map(|i| c(&format!("u{i}"), &format!("{}", 1000 + i)))
                .collect(),
        };
        let xml = render(Vendor::Yealink, &d);
        assert_eq!(xml.matches("<DirectoryEntry>").count(), 2 * MAX_PEOPLE);
        assert_eq!(
            render(Vendor::Yealink, &Directory::default())
                .matches("<DirectoryEntry>")
                .count(),
            0
        );
    }

    #[test]
    fn contact_keys_per_brand() {
        let many: Vec<Contact> = (0..10)
            .map(|i| c(&format!("P{i}"), &format!("2{i:02}")))
            .collect();
        let y = keys(Vendor::Yealink, KeyFormat::Enterprise, &many, "10.0.0.1");
        assert!(y.contains("linekey.2.type = 16\nlinekey.2.line = 1\nlinekey.2.value = 200\nlinekey.2.label = P0\n"), "{y}");
        assert!(
            y.contains("linekey.8.value = 206") && !y.contains("linekey.9."),
            "{y}"
        );
        let hostile = [c("Eve\nlinekey.1.value = 666", "2<1")];
        let y = keys(Vendor::Yealink, KeyFormat::Enterprise, &hostile, "h");
        assert_eq!(y.lines().count(), 4, "{y}");
        let s = keys(Vendor::Snom, KeyFormat::Enterprise, &many[..1], "10.0.0.1");
        assert_eq!(s, "    <fkey idx=\"0\" context=\"active\" perm=\"R\">blf &lt;sip:200@10.0.0.1&gt;</fkey>\n");
        let g = keys(Vendor::Grandstream, KeyFormat::Enterprise, &many, "h");
        assert!(
            g.contains(
                "<P323>1</P323>\n    <P301>0</P301>\n    <P302>P0</P302>\n    <P303>200</P303>"
            ),
            "{g}"
        );
        assert!(
            g.contains("<P329>1</P329>") && g.contains("<P321>206</P321>") && !g.contains("P330"),
            "{g}"
        );
        let p = keys(Vendor::Polycom, KeyFormat::Enterprise, &hostile, "h");
        assert!(
            p.contains("attendant.resourceList.1.address=\"2&lt;1\""),
            "{p}"
        );
        let f = keys(
            Vendor::Cisco,
            KeyFormat::FlatProfile,
            &many[..1],
            "10.0.0.1",
        );
        assert!(
            f.contains(">fnc=blf+sd;sub=200@10.0.0.1;nme=P0</Extended_Function_2_>"),
            "{f}"
        );
        assert_eq!(keys(Vendor::Cisco, KeyFormat::Enterprise, &many, "h"), "");
    }
}
