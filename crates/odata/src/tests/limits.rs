//! Limits: sizes, depths and node counts.

use super::*;

fn too_complex(text: &str) -> QueryError {
    let e = err(text);
    assert_eq!(e.code, Code::QueryTooComplex, "{e}");
    assert_eq!(e.option, "$filter");
    e
}

#[test]
fn length_limit() {
    let pad = " ".repeat(4096 - "displayName eq 'x'".len());
    ok(&format!("displayName eq 'x'{pad}"));
    let e = too_complex(&format!("displayName eq 'x'{pad} "));
    assert_eq!(e.position, Some(4096));
    assert!(e.message.contains("4096"), "{}", e.message);
}

#[test]
fn depth_limit() {
    let nots = |n: usize| format!("{}true", "not ".repeat(n));
    ok(&nots(32));
    let e = too_complex(&nots(33));
    assert_eq!(e.position, Some(4 * 32));
    assert!(e.message.contains("32 levels"), "{}", e.message);
    // Comparisons count: 31 nots + eq is 32 levels; one more is too deep.
    ok(&format!("{}(displayName eq 'x')", "not ".repeat(31)));
    too_complex(&format!("{}(displayName eq 'x')", "not ".repeat(32)));
    // Function nesting counts.
    let cases = |n: usize| format!("{}displayName{} eq 'x'", "tolower(".repeat(n), ")".repeat(n));
    ok(&cases(31));
    too_complex(&cases(32));
    // Redundant parentheses and long chains of one operator don't.
    ok(&format!("{}displayName eq 'x'{}", "(".repeat(60), ")".repeat(60)));
    ok(&vec!["displayName eq 'x'"; 50].join(" or "));
    // Alternating and/or inside parentheses does count.
    let mut deep = "displayName eq 'x'".to_owned();
    for i in 0..40 {
        let op = if i % 2 == 0 { "and" } else { "or" };
        deep = format!("(id eq 'y' {op} {deep})");
    }
    too_complex(&deep);
}

#[test]
fn node_limit() {
    let list = |n: usize| format!("id in ({})", vec!["'x'"; n].join(","));
    ok(&list(254)); // in + operand + 254 values = 256 nodes
    let e = too_complex(&list(255));
    assert!(e.message.contains("256 nodes"), "{}", e.message);
    assert_eq!(e.position, Some(7 + 4 * 254));
    let chain = |n: usize| vec!["id eq 'x'"; n].join(" or ");
    ok(&chain(64)); // 64 × 3 + 63 = 255
    too_complex(&chain(65));
}

#[test]
fn syntactic_nesting_is_bounded() {
    // Far more parentheses than the parser will follow: a clean error, no stack overflow.
    for open in ["(", "not ", "not(", "tolower(", "id in (", "contains("] {
        let text: String = open.repeat(4000 / open.len());
        let e = parse_filter(RUNS, &text[..text.len().min(4096)]).unwrap_err();
        assert!(matches!(e.code, Code::QueryTooComplex | Code::InvalidQueryOption), "{open}: {e}");
    }
    let e = too_complex(&format!("{}true{}", "(".repeat(150), ")".repeat(150)));
    assert_eq!(e.position, Some(100));
    assert!(e.message.contains("more than 100 levels"), "{}", e.message);
    // Oversized inputs never reach the parser.
    too_complex(&"(".repeat(100_000));
    too_complex(&"not ".repeat(100_000));
}

#[test]
fn deep_input_fits_a_small_stack() {
    // An unoptimised build needs ~14 KiB of stack per nesting level, over 1 MiB at the
    // syntactic limit: the parser must grow its stack rather than overflow a small one.
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            for open in ["(", "not (", "not ", "tolower(", "id in (", "contains(", "contains(tolower("] {
                let e = parse_filter(RUNS, &open.repeat(120)).unwrap_err();
                assert_eq!(e.code, Code::QueryTooComplex, "{open}: {e}");
            }
        })
        .unwrap();
    handle.join().unwrap();
}
