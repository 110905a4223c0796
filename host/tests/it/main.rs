//! Integration tests of the host: message semantics of the System API.

mod lifecycle;
mod messages;
mod metering;
