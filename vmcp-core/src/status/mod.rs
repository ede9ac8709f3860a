//! Status reports (DESIGN §3.4). SKELETON: completed by the registry/status work.
