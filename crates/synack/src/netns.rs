//! Network namespaces for tests and examples: a namespace of our own with a TUN interface in
//! it, the Linux kernel on one side and synack on the other.
