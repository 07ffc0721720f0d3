//! The error every query-option parser returns (a 400 that names the option and the
//! position; never silently ignored).

use runhub_model::Code;

/// A rejected query option. The server answers it with 400 `badRequest`, `innerError.code` =
/// [`code`](Self::code) and `target` = [`option`](Self::option).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    /// The option, canonically spelled with `$` (`$filter`), or as the client wrote it for an
    /// unknown option.
    pub option: String,
    /// 0-based character offset inside the option's (percent-decoded) value where the problem
    /// starts, when there is one.
    pub position: Option<usize>,
    /// [`Code::InvalidQueryOption`], [`Code::UnknownQueryOption`], [`Code::UnsupportedQueryOption`]
    /// or [`Code::QueryTooComplex`].
    pub code: Code,
    /// Human-readable: names the option, the position and the reason.
    pub message: String,
}

impl QueryError {
    /// An error about the option's value; the message is built from the parts.
    pub fn new(code: Code, option: impl Into<String>, position: Option<usize>, reason: impl AsRef<str>) -> Self {
        let option = option.into();
        let reason = reason.as_ref();
        let message = match position {
            Some(p) => format!("Invalid {option} at position {p}: {reason}"),
            None => format!("Invalid {option}: {reason}"),
        };
        QueryError { option, position, code, message }
    }

    /// An error about the option as a whole (unknown, unsupported, duplicated, not applicable):
    /// `message` is used as given.
    pub fn about_option(code: Code, option: impl Into<String>, message: String) -> Self {
        QueryError { option: option.into(), position: None, code, message }
    }
}

/// An error found inside one option's value, before it is attributed to an option. Lets a
/// nested option (`$expand=runs($filter=…)`) be re-attributed to the outer one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub code: Code,
    /// Character offset in the value, if any.
    pub position: Option<usize>,
    pub reason: String,
}

impl Problem {
    pub fn invalid(position: Option<usize>, reason: impl Into<String>) -> Self {
        Problem { code: Code::InvalidQueryOption, position, reason: reason.into() }
    }

    pub fn too_complex(position: Option<usize>, reason: impl Into<String>) -> Self {
        Problem { code: Code::QueryTooComplex, position, reason: reason.into() }
    }

    pub fn into_error(self, option: &str) -> QueryError {
        QueryError::new(self.code, option, self.position, self.reason)
    }
}

/// The character offset of a byte offset (which must be a char boundary; a non-boundary is
/// counted up to the preceding boundary rather than panicking).
pub(crate) fn char_offset(text: &str, byte: usize) -> usize {
    let mut end = byte.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].chars().count()
}
