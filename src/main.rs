//! The `buildkit-lite` executable: parses the command line, calls the library, and is the
//! one place that prints. Exit status: 0 success, 1 any failure, 2 a usage error (clap).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use buildkit_lite::build::{self, Event};
use buildkit_lite::cli::{Cli, Command};
use buildkit_lite::stage::{self, Replace};
use buildkit_lite::{Error, exec, prove, render, schema};
use camino::Utf8Path;
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Check { manifest, json } => check(&manifest.path, json),
        Command::Schema => {
            print!("{}", schema::json());
            Ok(())
        }
        Command::Render {
            manifest,
            out,
            force,
        } => render(&manifest.path, out.as_deref(), force),
        Command::Build {
            tags,
            manifest,
            dry_run,
            no_cache,
            builder,
            push,
            json,
        } => {
            let opts = build::Options {
                tags,
                dry_run,
                no_cache,
                builder,
                push,
            };
            build(&manifest.path, &opts, json)
        }
        Command::Test {
            tag,
            manifest,
            timeout,
            json,
        } => {
            let opts = prove::Options {
                tag,
                timeout: Duration::from_secs(timeout),
            };
            test(&manifest.path, &opts, json)
        }
    }
}

/// With `--json`, a failure still prints its document on stdout.
fn or_json_failure<T>(result: Result<T, Error>, json: bool) -> Result<T, Error> {
    if let (Err(error), true) = (&result, json) {
        print!("{}", buildkit_lite::json::failed(error));
    }
    result
}

fn check(path: &Utf8Path, json: bool) -> Result<(), Error> {
    let result = buildkit_lite::plan(path);
    if json {
        print!("{}", buildkit_lite::json::checked(path, &result));
    }
    let plan = result?;
    if !json {
        let (services, checks) = (plan.services.len(), plan.checks.len());
        println!(
            "{path}: ok ({services} service{}, {checks} check{})",
            plural(services),
            plural(checks)
        );
    }
    Ok(())
}

fn render(path: &Utf8Path, out: Option<&Utf8Path>, force: bool) -> Result<(), Error> {
    let plan = buildkit_lite::plan(path)?;
    let tree = render::render(&plan)?;
    match out {
        None => {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(render::listing(&tree).as_bytes());
        }
        Some(dir) => {
            // Ctrl-C or SIGTERM: stop between files; the temporary goes away.
            let _ = ctrlc::set_handler(exec::interrupt);
            let replace = if force {
                Replace::Force
            } else {
                Replace::OnlyRender
            };
            stage::write_tree(&tree, dir, path, replace)?;
            println!("rendered {} files into {dir}", tree.len());
        }
    }
    Ok(())
}

fn build(path: &Utf8Path, opts: &build::Options, json: bool) -> Result<(), Error> {
    let plan = or_json_failure(buildkit_lite::plan(path), json)?;
    // Ctrl-C or SIGTERM: stop the running child; the build then fails as interrupted.
    let _ = ctrlc::set_handler(exec::interrupt);
    let dry_run = opts.dry_run;
    let built = build::build(&plan, opts, &mut |event| match event {
        Event::Step(step) if dry_run => eprintln!("would {}:\n    {step}", step.summary),
        Event::Step(step) | Event::Probe(step) => {
            eprintln!("==> {}\n    {step}", step.summary)
        }
        Event::Stage(context) if dry_run => {
            eprintln!("would stage the build context into {context}")
        }
        Event::Stage(context) => eprintln!("==> staging the build context into {context}"),
        Event::Note(note) => eprintln!("==> {note}"),
    });
    let Some(built) = or_json_failure(built, json)? else {
        return Ok(());
    };
    if json {
        print!("{}", buildkit_lite::json::built(&built, &opts.tags));
        return Ok(());
    }
    for reference in &built.references {
        println!("built {reference}");
    }
    println!("image id {}", built.image_id);
    if let Some(digest) = &built.digest {
        println!("pushed {digest}");
    }
    Ok(())
}

fn test(path: &Utf8Path, opts: &prove::Options, json: bool) -> Result<(), Error> {
    let plan = or_json_failure(buildkit_lite::plan(path), json)?;
    // Ctrl-C or SIGTERM: stop the running docker command; the container is removed.
    let _ = ctrlc::set_handler(exec::interrupt);
    let line = |o: &prove::Outcome| {
        let mark = if o.passed { "ok  " } else { "FAIL" };
        let (kind, name) = (o.kind.name(), &o.name);
        let what = match o.kind {
            prove::Kind::Stop | prove::Kind::Container => kind.to_string(),
            _ => format!("{kind} {name}"),
        };
        format!("{mark} {what:<28} {:>6.1}s  {}", o.seconds, o.detail)
    };
    let report = prove::test(&plan, opts, &mut |outcome| {
        // One line per result as it is known: the product on stdout, unless --json.
        if json {
            eprintln!("{}", line(outcome));
        } else {
            println!("{}", line(outcome));
        }
    });
    let report = or_json_failure(report, json)?;
    if json {
        print!("{}", buildkit_lite::json::tested(&report));
    } else {
        let verdict = if report.passed { "passed" } else { "FAILED" };
        let n = report.results.len();
        println!(
            "test {}: {verdict} ({n} result{}, {:.1}s)",
            report.image,
            plural(n),
            report.seconds
        );
    }
    if report.passed {
        return Ok(());
    }
    Err(Error::TestFailed {
        failures: report.failures(),
        image: report.image,
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
