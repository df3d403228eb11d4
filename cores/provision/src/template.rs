//! A tiny `{{name}}` substitution with escaping per file format.
//!
//! Why not a template engine crate: the templates are flat files with a dozen fields and no
//! logic, and the only thing that matters is that every value is escaped for the format it
//! lands in. An unknown `{{name}}` is an error, so a typo in an admin's template is caught
//! when it is loaded, not served to a phone.

use std::collections::HashMap;

/// Why a template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` with no closing `}}`.
    #[error("unterminated `{{{{` at byte {0}")]
    Unterminated(usize),
    /// A `{{name}}` that the renderer does not provide.
    #[error("unknown field {{{{{0}}}}}")]
    UnknownField(String),
}

/// How values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// XML text and attribute values: `& < > " '` as entities, CR/LF/TAB as character
    /// references, other control characters dropped (XML 1.0 cannot carry them at all).
    Xml,
    /// `key = value` lines (Yealink): a value must stay on its line, so control characters
    /// become spaces.
    Ini,
}

/// Escapes one value.
pub fn escape(value: &str, how: Escape) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match how {
            Escape::Xml => match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&apos;"),
                '\n' => out.push_str("&#10;"),
                '\r' => out.push_str("&#13;"),
                '\t' => out.push_str("&#9;"),
                c if c.is_control() => {}
                c => out.push(c),
            },
            Escape::Ini => out.push(if c.is_control() { ' ' } else { c }),
        }
    }
    out
}

/// Fills `{{name}}` fields from `vars`, each escaped with `how`.
pub fn render(
    template: &str,
    vars: &HashMap<&str, String>,
    how: Escape,
) -> Result<String, TemplateError> {
    render_with_blocks(template, vars, &HashMap::new(), how)
}

/// [`render`], where a field named in `blocks` is filled with that text as is: whole lines
/// the caller generated (contact keys) and escaped value by value itself.
pub fn render_with_blocks(
    template: &str,
    vars: &HashMap<&str, String>,
    blocks: &HashMap<&str, String>,
    how: Escape,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or(TemplateError::Unterminated(offset + start))?;
        let name = after[..end].trim();
        if let Some(block) = blocks.get(name) {
            out.push_str(block);
        } else {
            let value = vars
                .get(name)
                .ok_or_else(|| TemplateError::UnknownField(name.chars().take(40).collect()))?;
            out.push_str(&escape(value, how));
        }
        let consumed = start + 2 + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Lists the `{{name}}` fields a template uses (for checking an admin's override).
pub fn fields(template: &str) -> Result<Vec<String>, TemplateError> {
    let mut names = Vec::new();
    let mut rest = template;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or(TemplateError::Unterminated(offset + start))?;
        names.push(after[..end].trim().to_owned());
        let consumed = start + 2 + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn substitutes_and_escapes() {
        let vars = HashMap::from([("name", "<A&B \"x\" 'y'>\nz".to_owned())]);
        assert_eq!(
            render("<n v=\"{{name}}\">{{ name }}</n>", &vars, Escape::Xml).unwrap(),
            "<n v=\"&lt;A&amp;B &quot;x&quot; &apos;y&apos;&gt;&#10;z\">&lt;A&amp;B &quot;x&quot; &apos;y&apos;&gt;&#10;z</n>"
        );
        assert_eq!(
            render("a = {{name}}\n", &vars, Escape::Ini).unwrap(),
            "a = <A&B \"x\" 'y'> z\n"
        );
        assert_eq!(escape("a\u{0}b\u{1b}c", Escape::Xml), "abc");
    }

    #[test]
    fn errors() {
        let vars = HashMap::new();
        assert_eq!(
            render("x {{nope}}", &vars, Escape::Xml),
            Err(TemplateError::UnknownField("nope".into()))
        );
        assert_eq!(
            render("x {{nope", &vars, Escape::Xml),
            Err(TemplateError::Unterminated(2))
        );
        assert_eq!(
            render("no fields } {", &vars, Escape::Xml).unwrap(),
            "no fields } {"
        );
        assert_eq!(fields("{{a}} {{ b }}").unwrap(), vec!["a", "b"]);
        let blocks = HashMap::from([("keys", "<k a=\"1\"/>\n".to_owned())]);
        let vars = HashMap::from([("v", "<".to_owned())]);
        assert_eq!(
            render_with_blocks("{{v}}\n{{keys}}end", &vars, &blocks, Escape::Xml).unwrap(),
            "&lt;\n<k a=\"1\"/>\nend"
        );
    }
}
