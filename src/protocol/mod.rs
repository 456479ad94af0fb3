//! The wire protocol: parsing requests ([`parser`]) and encoding replies ([`reply`]).

pub mod parser;
pub mod reply;

pub use parser::{Limits, Parser, ProtocolError, Request};
pub use reply::Reply;
