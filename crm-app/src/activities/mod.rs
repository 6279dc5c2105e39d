//! Activities: the calls, emails, meetings, site visits, notes and tasks
//! around a lead.

pub mod model;
pub mod routes;
pub mod store;
