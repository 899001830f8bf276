//! Bad command lines are refused with a clear error before any namespace or device is made.

use crate::harness::*;
use crate::programs::*;

#[test]
fn bad_arguments_are_refused_before_anything_is_made() {
    let refused: &[(&[&str], &str)] = &[
        (
            &[
                "serve",
                "--netns",
                "x",
                "--app",
                "echo",
                "--addr",
                "8.8.8.2/24",
            ],
            "not a private",
        ),
        (
            &["connect", "--netns", "x", "10.99.0.1:80"],
            "not in 10.77.0.2/24",
        ),
        (
            &["serve", "--netns", "x", "--app", "echo", "--loss", "2"],
            "probability",
        ),
        (
            &[
                "serve",
                "--netns",
                "x",
                "--app",
                "echo",
                "--addr",
                "2001:db8::2/64",
            ],
            "not a unique local",
        ),
        (
            &[
                "relay",
                "--netns",
                "x",
                "--to",
                "127.0.0.1:80",
                "--addr",
                "fd00:5ac::2/64",
                "--route",
                "10.78.0.1/24",
            ],
            "must be of one family",
        ),
    ];
    for (args, says) in refused {
        assert_refused(args, says);
    }
    for (command, queues) in [("serve", "0"), ("connect", "257"), ("relay", "many")] {
        let extra: &[&str] = match command {
            "serve" => &["--app", "echo"],
            "connect" => &["10.77.0.1:80"],
            _ => &["--to", "127.0.0.1:80"],
        };
        let out = synack(&[&[command, "--netns", "x", "--queues", queues], extra].concat());
        assert_eq!(out.status.code(), Some(2), "{command} --queues {queues}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--queues") && err.contains(queues), "{err}");
    }
    assert!(!ns_exists("x"));
}
