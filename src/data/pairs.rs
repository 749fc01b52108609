//! Labelled pair files for fine-tuning, evaluation and prediction.
//!
//! Training sets are small next to pretraining corpora (tens or hundreds of thousands
//! of pairs), so they are read whole; every line is checked before any training starts.

use std::path::Path;

use anyhow::Result;

use crate::data::labels::Labels;
use crate::error::InputError;
use crate::text::corpus::{check_text, is_blank, parse_line, strip_bom, Format};

/// One pair with its optional label and 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairRecord {
    /// First text.
    pub a: String,
    /// Second text.
    pub b: String,
    /// Class id, if the file has a label column.
    pub label: Option<usize>,
    /// Line in the file (for error messages).
    pub line: u64,
}

/// Read a pair TSV, its label column as `labels` says. With `labels_required`, every
/// line needs a label.
pub fn read_pairs(
    path: &Path,
    header: bool,
    labels_required: bool,
    labels: &Labels,
) -> Result<Vec<PairRecord>> {
    let bytes = std::fs::read(path).map_err(|e| {
        InputError::at_path(
            path,
            format!("cannot open: {e}; check the path and permissions"),
        )
    })?;
    let text = check_text(path, &bytes, 1, 0)?;
    let mut out = Vec::new();
    for (i, line) in strip_bom(text).lines().enumerate().skip(header as usize) {
        let line_no = i as u64 + 1;
        if is_blank(line) {
            continue;
        }
        let rec =
            parse_line(Format::Pairs, line).map_err(|m| InputError::at_line(path, line_no, m))?;
        let label = match rec.label {
            Some(l) => labels
                .id(l)
                .map_err(|m| InputError::at_line(path, line_no, m))?,
            None if labels_required => {
                // `text<TAB>label`, a single-text file, reads as a pair without a label.
                let single = rec
                    .b
                    .is_some_and(|b| matches!(labels.id(b.trim()), Ok(Some(_))));
                let hint = match single {
                    true => "; this line looks like text<TAB>label (one text and its label), which the pair tasks do not read",
                    false => "",
                };
                return Err(InputError::at_line(
                    path,
                    line_no,
                    format!("missing field 3 (label): training and evaluation files are text_a<TAB>text_b<TAB>label{hint}"),
                )
                .into());
            }
            None => None,
        };
        out.push(PairRecord {
            a: rec.a.to_string(),
            b: rec.b.unwrap_or_default().to_string(),
            label,
            line: line_no,
        });
    }
    if out.is_empty() {
        crate::bad_input!(
            "{}: no pairs found; expected text_a<TAB>text_b[<TAB>label] lines",
            path.display()
        );
    }
    Ok(out)
}

/// Number of classes implied by the labels (max label + 1); an error naming the first
/// missing class when some class in between never occurs.
pub fn num_classes(path: &Path, pairs: &[PairRecord]) -> Result<usize> {
    let n = pairs
        .iter()
        .filter_map(|p| p.label)
        .max()
        .map_or(0, |m| m + 1);
    for c in 0..n {
        if !pairs.iter().any(|p| p.label == Some(c)) {
            crate::bad_input!(
                "{}: no example has label {c}, but labels go up to {}; labels must be 0..C-1",
                path.display(),
                n - 1
            );
        }
    }
    if n < 2 {
        crate::bad_input!(
            "{}: all labels are {}; a classifier needs at least two classes",
            path.display(),
            n.saturating_sub(1)
        );
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(content: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("train.tsv");
        std::fs::write(&p, content).unwrap();
        (dir, p)
    }

    #[test]
    fn reads_pairs_and_checks_labels() {
        let (_d, p) = write("a b\tc\t1\n\nd\te f\t0\n");
        let pairs = read_pairs(&p, false, true, &Labels::Ids(Some(2))).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(
            (
                pairs[1].a.as_str(),
                pairs[1].b.as_str(),
                pairs[1].label,
                pairs[1].line
            ),
            ("d", "e f", Some(0), 3)
        );
        assert_eq!(num_classes(&p, &pairs).unwrap(), 2);
        let err = read_pairs(&p, false, true, &Labels::Ids(Some(1)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train.tsv:1:") && err.contains("outside 0..0"),
            "{err}"
        );
        let (_d, p) = write("a\tb\n");
        let err = read_pairs(&p, false, true, &Labels::Ids(None))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing field 3") && !err.contains("looks like"),
            "{err}"
        );
        // A single-text line: text and a label.
        let (_d, p) = write("a news title\t7\n");
        let err = read_pairs(&p, false, true, &Labels::Ids(None))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train.tsv:1:") && err.contains("looks like text<TAB>label"),
            "{err}"
        );
        assert_eq!(
            read_pairs(&p, false, false, &Labels::Ids(None)).unwrap()[0].label,
            None
        );
        let (_d, p) = write("a\tb\t0\nc\td\t2\n");
        let pairs = read_pairs(&p, false, true, &Labels::Ids(None)).unwrap();
        assert!(num_classes(&p, &pairs)
            .unwrap_err()
            .to_string()
            .contains("no example has label 1"));
    }
}
