//! Activities: the calls, emails, meetings, site visits, notes and tasks
//! around a lead.
//!
//! [`domain`] holds the rules every front end calls, [`routes`] the JSON
//! API, [`store`] the SQL; [`model`] is an activity as stored and shown,
//! [`input`] what clients send.

pub mod domain;
pub mod input;
pub mod model;
pub mod routes;
pub mod store;
