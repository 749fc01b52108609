//! How a pair file's label column is read: class ids (0, 1, ...), or class names such as
//! `entailment`, each standing for its position in the task's list of names (`--labels`,
//! else the sorted distinct names of the training file, as transformers' `run_glue.py`
//! sorts its label list). A fine-tuned checkpoint keeps its names in config.json
//! (`id2label`, `label2id`), so predictions print them.

use std::path::Path;

use anyhow::Result;

use crate::error::InputError;
use crate::text::corpus::{check_text, is_blank, parse_line, strip_bom, Format};

/// What the label column of a pair file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Labels {
    /// Nothing this reader needs: unlabelled pairs, whose label column is skipped.
    Ignore,
    /// Class ids 0, 1, ..., below the given number of classes when it is known.
    Ids(Option<usize>),
    /// Class names in id order; a field naming one is its id (an integer in range is
    /// read as an id too).
    Names(Vec<String>),
}

impl Labels {
    /// The names of `--labels a,b,c` (exit 2 for an empty or repeated name).
    pub fn parse_flag(list: &str) -> Result<Labels> {
        let names: Vec<String> = list.split(',').map(|n| n.trim().to_string()).collect();
        if names.len() < 2 || names.iter().any(String::is_empty) {
            crate::bad_input!(
                "--labels {list:?}: give two or more comma-separated class names, e.g. entailment,neutral,contradiction"
            );
        }
        if let Some(dup) = names
            .iter()
            .enumerate()
            .find(|(i, n)| names[..*i].contains(n))
        {
            crate::bad_input!("--labels {list:?}: {:?} appears twice", dup.1);
        }
        Ok(Labels::Names(names))
    }

    /// The labels of a training file: its sorted distinct names when any label is not an
    /// integer, else class ids.
    pub fn of_file(path: &Path, header: bool) -> Result<Labels> {
        let bytes = std::fs::read(path).map_err(|e| {
            InputError::at_path(
                path,
                format!("cannot open: {e}; check the path and permissions"),
            )
        })?;
        let text = check_text(path, &bytes, 1, 0)?;
        let mut names: Vec<String> = Vec::new();
        // The first line with a class id and the first with a name: a file mixing them
        // is a typo (`yes` among 0/1), not a task with a class named `1`.
        let (mut first_id, mut first_name) = (None, None);
        for (i, line) in strip_bom(text).lines().enumerate().skip(header as usize) {
            if is_blank(line) {
                continue;
            }
            let line_no = i as u64 + 1;
            let rec = parse_line(Format::Pairs, line)
                .map_err(|m| InputError::at_line(path, line_no, m))?;
            let Some(l) = rec.label else { continue };
            match l.parse::<i64>() {
                Ok(_) => first_id = first_id.or(Some((line_no, l.to_string()))),
                Err(_) => first_name = first_name.or(Some((line_no, l.to_string()))),
            }
            if !names.iter().any(|n| n == l) {
                names.push(l.to_string());
            }
        }
        match (first_id, first_name) {
            (_, None) => return Ok(Labels::Ids(None)),
            (Some((id_line, id)), Some((line, name))) => {
                return Err(InputError::at_line(
                    path,
                    line.max(id_line),
                    format!(
                        "field 3 (label): the file mixes class ids ({id:?}, line {id_line}) and names ({name:?}, line {line}); write every label as an id or every label as a name"
                    ),
                )
                .into())
            }
            (None, Some(_)) => {}
        }
        names.sort();
        Ok(Labels::Names(names))
    }

    /// The labels a checkpoint's config.json names (`id2label`; transformers' default
    /// `LABEL_0`, `LABEL_1`, ... count as none) for a head of `classes` classes.
    pub fn of_checkpoint(id2label: Option<&[String]>, classes: usize) -> Labels {
        match id2label {
            Some(names)
                if names.len() == classes
                    && names
                        .iter()
                        .enumerate()
                        .any(|(i, n)| *n != format!("LABEL_{i}")) =>
            {
                Labels::Names(names.to_vec())
            }
            _ => Labels::Ids(Some(classes)),
        }
    }

    /// The class id of label field `field` (`None` for [`Labels::Ignore`]), or what is
    /// wrong with it.
    pub fn id(&self, field: &str) -> std::result::Result<Option<usize>, String> {
        let int = field.parse::<i64>().ok();
        let in_range = |n: usize| int.filter(|&v| v >= 0 && (v as usize) < n);
        match self {
            Labels::Ignore => Ok(None),
            Labels::Ids(n) => match (int, n) {
                (None, _) => Err(format!(
                    "field 3 (label): {field:?} is not a class id 0, 1, ...; for class names (e.g. entailment) fine-tune on them (or pass --labels a,b,c): the checkpoint then keeps them"
                )),
                (Some(v), Some(n)) if v < 0 || v as usize >= *n => Err(format!(
                    "field 3 (label): {v} is outside 0..{}",
                    n - 1
                )),
                (Some(v), None) if v < 0 => {
                    Err(format!("field 3 (label): {v} is outside 0, 1, ..."))
                }
                (Some(v), _) => Ok(Some(v as usize)),
            },
            Labels::Names(names) => match names.iter().position(|n| n == field) {
                Some(id) => Ok(Some(id)),
                None => match in_range(names.len()) {
                    Some(v) => Ok(Some(v as usize)),
                    None => Err(format!(
                        "field 3 (label): {field:?} is not one of the labels {}",
                        names.join(", ")
                    )),
                },
            },
        }
    }

    /// The names in id order, when the labels have names.
    pub fn names(&self) -> Option<&[String]> {
        match self {
            Labels::Names(n) => Some(n),
            _ => None,
        }
    }

    /// How class `id` is written: its name, or the id.
    pub fn name(&self, id: usize) -> String {
        match self {
            Labels::Names(n) => n[id].clone(),
            _ => id.to_string(),
        }
    }
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
    fn names_come_sorted_from_the_file_or_from_the_flag() {
        let (_d, p) =
            write("s1\ts2\tlabel\na\tb\tneutral\nc\td\tentailment\ne\tf\tcontradiction\n");
        let labels = Labels::of_file(&p, true).unwrap();
        assert_eq!(
            labels.names().unwrap(),
            ["contradiction", "entailment", "neutral"]
        );
        assert_eq!(labels.id("neutral"), Ok(Some(2)));
        assert_eq!(labels.id("1"), Ok(Some(1)), "an id in range is an id");
        assert!(labels
            .id("maybe")
            .unwrap_err()
            .contains("not one of the labels"));
        let (_d, p) = write("a\tb\t1\nc\td\t0\n");
        assert_eq!(Labels::of_file(&p, false).unwrap(), Labels::Ids(None));
        let (_d, p) = write("a\tb\t1\nc\td\t0\ne\tf\tyes\n");
        let err = Labels::of_file(&p, false).unwrap_err().to_string();
        assert!(
            err.contains("train.tsv:3:") && err.contains("mixes class ids"),
            "{err}"
        );
        let given = Labels::parse_flag("entailment, neutral,contradiction").unwrap();
        assert_eq!(given.id("contradiction"), Ok(Some(2)));
        assert_eq!(given.name(1), "neutral");
        assert!(Labels::parse_flag("a,a").is_err());
        assert!(Labels::parse_flag("a").is_err());
    }

    #[test]
    fn ids_are_checked_and_transformers_defaults_are_not_names() {
        assert!(Labels::Ids(Some(2))
            .id("2")
            .unwrap_err()
            .contains("outside 0..1"));
        assert!(Labels::Ids(None)
            .id("yes")
            .unwrap_err()
            .contains("not a class id"));
        assert_eq!(Labels::Ignore.id("anything"), Ok(None));
        let default = ["LABEL_0".to_string(), "LABEL_1".to_string()];
        assert_eq!(
            Labels::of_checkpoint(Some(&default), 2),
            Labels::Ids(Some(2))
        );
        let named = ["no".to_string(), "yes".to_string()];
        assert_eq!(
            Labels::of_checkpoint(Some(&named), 2),
            Labels::Names(named.to_vec())
        );
        assert_eq!(Labels::of_checkpoint(None, 3), Labels::Ids(Some(3)));
    }
}
