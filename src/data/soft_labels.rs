//! Soft labels: a teacher's class probabilities for the pairs of a training file, keyed
//! by the pair's 1-based line in that file.
//!
//! Two producers are read as they are: `dapt predict --with-ids` output (a header
//! `line p_0 .. p_{C-1} prediction [label]`) and a finetune run's `oof.tsv` (no header;
//! `line fold label p_0 .. p_{C-1}`). Where a file carries labels they are compared with
//! the training file's, which catches most files made for another training file.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;

use crate::data::pairs::PairRecord;
use crate::error::InputError;

/// How far a row's probabilities may sum from 1 (the producers print 8 decimals).
const SUM_TOLERANCE: f64 = 1e-4;

/// One teacher row: class probabilities and, when the file has them, the label.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    probs: Vec<f64>,
    label: Option<usize>,
    file_line: u64,
}

/// A soft-label file, read and checked row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftLabels {
    /// Number of classes (probability columns).
    pub classes: usize,
    rows: HashMap<u64, Row>,
}

/// Column layout of a soft-label file.
struct Layout {
    classes: usize,
    first_prob: usize,
    label: Option<usize>,
    header: bool,
}

impl Layout {
    /// From the first line: a `line ...` header (predict) or an oof.tsv row.
    fn detect(first: &str) -> std::result::Result<Layout, String> {
        let cols: Vec<&str> = first.split('\t').collect();
        if cols[0] == "line" {
            let classes = cols.iter().filter(|c| c.starts_with("p_")).count();
            let label = cols.iter().position(|&c| c == "label");
            if classes < 2
                || cols[1..=classes]
                    .iter()
                    .enumerate()
                    .any(|(i, c)| *c != format!("p_{i}"))
            {
                return Err("header: expected line<TAB>p_0<TAB>...<TAB>p_{C-1}<TAB>prediction[<TAB>label] (dapt predict --with-ids)".into());
            }
            return Ok(Layout {
                classes,
                first_prob: 1,
                label,
                header: true,
            });
        }
        if cols.len() < 5 {
            return Err(format!(
                "{} fields; expected a `dapt predict --with-ids` file (with its header) or an oof.tsv row: line<TAB>fold<TAB>label<TAB>p_0<TAB>...<TAB>p_{{C-1}}",
                cols.len()
            ));
        }
        Ok(Layout {
            classes: cols.len() - 3,
            first_prob: 3,
            label: Some(2),
            header: false,
        })
    }
}

impl SoftLabels {
    /// Read `path`; every row is checked (numbers, probabilities in [0, 1] summing to 1,
    /// no line twice).
    pub fn read(path: &Path) -> Result<SoftLabels> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| InputError::at_path(path, format!("cannot read the soft labels: {e}")))?;
        let mut lines = crate::text::corpus::strip_bom(&text)
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, first)) = lines.clone().next() else {
            crate::bad_input!(
                "{}: empty; pass `dapt predict --with-ids` output or a finetune run's oof.tsv",
                path.display()
            )
        };
        let layout = Layout::detect(first).map_err(|m| InputError::at_line(path, 1, m))?;
        if layout.header {
            lines.next();
        }
        let mut rows = HashMap::new();
        for (i, l) in lines {
            let file_line = i as u64 + 1;
            let at = |m: String| InputError::at_line(path, file_line, m);
            let cols: Vec<&str> = l.split('\t').collect();
            if cols.len() < layout.first_prob + layout.classes {
                return Err(at(format!(
                    "{} fields but {} classes need {}",
                    cols.len(),
                    layout.classes,
                    layout.first_prob + layout.classes
                ))
                .into());
            }
            let line: u64 = cols[0].parse().map_err(|_| {
                at(format!(
                    "field 1 (line): {:?} is not a line number",
                    cols[0]
                ))
            })?;
            let probs = cols[layout.first_prob..layout.first_prob + layout.classes]
                .iter()
                .enumerate()
                .map(|(c, v)| match v.parse::<f64>() {
                    Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
                    _ => Err(at(format!("p_{c}: {v:?} is not a probability in [0, 1]"))),
                })
                .collect::<std::result::Result<Vec<f64>, _>>()?;
            let sum: f64 = probs.iter().sum();
            if (sum - 1.0).abs() > SUM_TOLERANCE {
                return Err(at(format!("probabilities sum to {sum:.6}, not 1")).into());
            }
            let label = match layout.label.and_then(|c| cols.get(c)) {
                Some(v) => Some(
                    v.parse::<usize>()
                        .map_err(|_| at(format!("label: {v:?} is not a class id")))?,
                ),
                None => None,
            };
            let row = Row {
                probs,
                label,
                file_line,
            };
            if let Some(old) = rows.insert(line, row) {
                return Err(at(format!(
                    "training line {line} also has soft labels on line {}; each pair needs one row",
                    old.file_line
                ))
                .into());
            }
        }
        Ok(SoftLabels {
            classes: layout.classes,
            rows,
        })
    }

    /// The probabilities of every pair of `pairs` (read from `train`), in order. The file
    /// must cover exactly those pairs, with `classes` classes and, where it has labels,
    /// the same ones.
    pub fn align(
        &self,
        path: &Path,
        train: &Path,
        pairs: &[PairRecord],
        classes: usize,
    ) -> Result<Vec<Vec<f64>>> {
        if self.classes != classes {
            crate::bad_input!(
                "{}: {} classes of soft labels but {} has {classes}; the teacher was trained on another task",
                path.display(),
                self.classes,
                train.display()
            );
        }
        let mismatch = || {
            format!(
                "the soft labels were made for another file than {}; re-run `dapt predict --with-ids` on it",
                train.display()
            )
        };
        if self.rows.len() != pairs.len() {
            crate::bad_input!(
                "{}: soft labels for {} pairs but {} has {}: {}",
                path.display(),
                self.rows.len(),
                train.display(),
                pairs.len(),
                mismatch()
            );
        }
        pairs
            .iter()
            .map(|p| {
                let Some(row) = self.rows.get(&p.line) else {
                    crate::bad_input!(
                        "{}: no soft labels for line {} of {}: {}",
                        path.display(),
                        p.line,
                        train.display(),
                        mismatch()
                    )
                };
                if let (Some(want), Some(got)) = (p.label, row.label) {
                    if want != got {
                        crate::bad_input!(
                            "{}:{}: label {got} but line {} of {} has label {want}: {}",
                            path.display(),
                            row.file_line,
                            p.line,
                            train.display(),
                            mismatch()
                        );
                    }
                }
                Ok(row.probs.clone())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("soft.tsv");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn pair(line: u64, label: Option<usize>) -> PairRecord {
        PairRecord {
            a: "x".into(),
            b: "y".into(),
            label,
            line,
        }
    }

    #[test]
    fn reads_predict_output_and_oof() {
        let (_d, p) = write("line\tp_0\tp_1\tprediction\n1\t0.25\t0.75\t1\n3\t0.9\t0.1\t0\n");
        let s = SoftLabels::read(&p).unwrap();
        let train = Path::new("train.tsv");
        let probs = s
            .align(&p, train, &[pair(1, Some(1)), pair(3, None)], 2)
            .unwrap();
        assert_eq!(probs, vec![vec![0.25, 0.75], vec![0.9, 0.1]]);
        let (_d, p) = write("2\t0\t1\t0.2\t0.3\t0.5\n");
        let s = SoftLabels::read(&p).unwrap();
        assert_eq!(s.classes, 3);
        assert_eq!(
            s.align(&p, train, &[pair(2, Some(1))], 3).unwrap(),
            vec![vec![0.2, 0.3, 0.5]]
        );
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let train = Path::new("train.tsv");
        let bad = |text: &str| SoftLabels::read(&write(text).1).unwrap_err().to_string();
        assert!(bad("line\tp_0\tp_1\tprediction\n1\t0.5\t0.6\t1\n").contains("sum to"));
        assert!(bad("line\tp_0\tp_1\tprediction\n1\t-0.5\t1.5\t1\n").contains("[0, 1]"));
        assert!(
            bad("line\tp_0\tp_1\tprediction\n1\t0.5\t0.5\t1\n1\t0.5\t0.5\t1\n").contains("one row")
        );
        let (_d, p) = write("1\t0\t1\t0.2\t0.8\n");
        let s = SoftLabels::read(&p).unwrap();
        let err = |pairs: &[PairRecord], c| s.align(&p, train, pairs, c).unwrap_err().to_string();
        assert!(err(&[pair(1, Some(1))], 3).contains("2 classes"));
        assert!(err(&[pair(1, Some(0))], 2).contains("has label 0"));
        assert!(err(&[pair(2, Some(1))], 2).contains("no soft labels for line 2"));
        assert!(err(&[pair(1, Some(1)), pair(2, None)], 2).contains("for 1 pairs"));
    }
}
