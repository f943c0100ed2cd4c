//! The host: subprocesses ([`exec`]), the Docker client ([`docker`]), git ([`git`]) and the
//! project's files as a manifest may reach them ([`project`]). Nothing here knows a
//! manifest.

pub mod docker;
pub mod exec;
pub mod git;
pub mod project;
