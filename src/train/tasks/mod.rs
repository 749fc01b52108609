//! Task kinds: what a fine-tuning loop trains towards and how it is scored. A task owns
//! the training targets, the loss on them and what each example weighs in a batch, so the
//! loop and the techniques do not depend on the kind of task. Today there is one:
//! classification of sentence pairs ([`pair`]).

pub mod pair;
