//! [`Ctx`]: what every validation step needs to report a problem as `file:line:column: message`.

use std::cell::OnceCell;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::ScenarioError;
use super::location::Location;

/// The text being parsed and its name, plus a lazily built syntax tree used only to find where a
/// key is written (serde spans cover values, not keys).
pub(super) struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    document: OnceCell<Option<Spanned<DeTable<'a>>>>,
}

impl<'a> Ctx<'a> {
    /// A context for `text`, reported as `file`.
    pub(super) fn new(file: &'a str, text: &'a str) -> Self {
        Self {
            file,
            text,
            document: OnceCell::new(),
        }
    }

    /// The location of the start of `span`.
    pub(super) fn location(&self, span: &Range<usize>) -> Location {
        Location::of_span(self.text, span)
    }

    /// The file name errors are labelled with.
    pub(super) fn file_name(&self) -> &str {
        self.file
    }

    /// An error pointing at the start of `span`.
    pub(super) fn error(&self, span: &Range<usize>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::invalid(self.file, self.location(span), message)
    }

    /// An error pointing at the key whose value has `value_span` (or at the value when the key
    /// cannot be found), for "key `x` is not used by ..." messages.
    pub(super) fn key_error(
        &self,
        value_span: &Range<usize>,
        message: impl Into<String>,
    ) -> ScenarioError {
        let span = self
            .key_span(value_span)
            .unwrap_or_else(|| value_span.clone());
        self.error(&span, message)
    }

    /// Turn a `toml` error (syntax, shape, or a message from a value's own deserializer such as
    /// `[vmcp]` validation) into a positioned error, keeping its message.
    pub(super) fn toml_error(&self, error: &toml::de::Error) -> ScenarioError {
        let span = error.span().unwrap_or(0..0);
        self.error(&span, error.message().trim_end())
    }

    fn key_span(&self, value_span: &Range<usize>) -> Option<Range<usize>> {
        let document = self
            .document
            .get_or_init(|| DeTable::parse(self.text).ok())
            .as_ref()?;
        find_key_in_table(document.get_ref(), value_span)
    }
}

fn find_key_in_table(table: &DeTable<'_>, value_span: &Range<usize>) -> Option<Range<usize>> {
    table.iter().find_map(|(key, value)| {
        if value.span() == *value_span {
            Some(key.span())
        } else {
            find_key_in_value(value.get_ref(), value_span)
        }
    })
}

fn find_key_in_value(value: &DeValue<'_>, value_span: &Range<usize>) -> Option<Range<usize>> {
    match value {
        DeValue::Table(table) => find_key_in_table(table, value_span),
        DeValue::Array(items) => items
            .iter()
            .find_map(|item| find_key_in_value(item.get_ref(), value_span)),
        _ => None,
    }
}
