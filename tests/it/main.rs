//! End-to-end tests: a real server on a loopback port, real WebSockets.

mod abuse;
mod accounts;
mod bad_input;
mod chat;
mod cluster;
mod cluster_nodes;
mod conversation;
mod data_safety;
mod fuzz_corpus;
mod limits;
mod moderation;
mod overload;
mod people;
mod proxies;
mod retention;
mod seed;
mod services;
mod typing;
