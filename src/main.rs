//! The `buildkit-lite` executable: parses the command line, calls the library, and is the
//! one place that prints. Exit status: 0 success, 1 any failure, 2 a usage error (clap's,
//! or an argument that does not fit the manifest).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use buildkit_lite::build::stage::{self, Replace};
use buildkit_lite::build::{self, Event};
use buildkit_lite::cli::json::PlannedStep;
use buildkit_lite::cli::{Cli, Command};
use buildkit_lite::host::exec;
use buildkit_lite::manifest::schema;
use buildkit_lite::{Error, image_test, plan, render, warnings};
use camino::Utf8Path;
use clap::{CommandFactory, Parser};

/// `==>` and `warning:`/`error:` marks, shown in colour only where stderr is a terminal
/// and `NO_COLOR` is not set (anstream strips them otherwise).
const STEP: Style = AnsiColor::Green.on_default().bold();
const WARN: Style = AnsiColor::Yellow.on_default().bold();
const ERROR: Style = AnsiColor::Red.on_default().bold();

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            anstream::eprintln!("{ERROR}error:{ERROR:#} {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("caused by: {cause}");
                source = cause.source();
            }
            match err {
                Error::Argument(_) => ExitCode::from(2),
                _ => ExitCode::from(1),
            }
        }
    }
}

/// clap's answer to a command line it refused (or `--help`, `--version`): printed as clap
/// prints it, and with `--json` among the arguments, a JSON document on stdout too, so
/// that stdout always parses.
fn usage_error(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    let json = std::env::args_os().skip(1).any(|a| a == "--json");
    if json && !informational {
        print!(
            "{}",
            buildkit_lite::cli::json::usage(&error.render().to_string())
        );
    }
    let _ = error.print();
    ExitCode::from(error.exit_code() as u8)
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Check {
            manifest,
            json,
            deny_warnings,
        } => check(&manifest.path, json, deny_warnings),
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
            vendor,
            cache,
            push,
            json,
            verbose,
        } => {
            let opts = build::Options {
                tags,
                dry_run,
                no_cache,
                builder,
                vendor,
                cache,
                push,
                verbose,
            };
            build(&manifest.path, &opts, json)
        }
        Command::Test {
            tag,
            manifest,
            timeout,
            platform,
            json,
            settings,
        } => {
            let opts = image_test::Options {
                tag,
                platform,
                timeout: Duration::from_secs(timeout),
                settings: image_test::settings::Flags {
                    env: settings.env,
                    env_file: settings.env_file,
                    network: settings.network,
                    volumes: settings.volume,
                    hardened: settings.hardened,
                    read_only: settings.read_only,
                },
            };
            test(&manifest.path, &opts, json)
        }
        Command::Init { dir } => init(&dir),
        Command::Sbom {
            tag,
            manifest,
            json,
        } => sbom(&manifest.path, &tag, json),
        Command::Completions { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "buildkit-lite", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            let page = clap_mangen::Man::new(Cli::command());
            let _ = page.render(&mut std::io::stdout());
            Ok(())
        }
    }
}

/// With `--json`, a failure still prints its document on stdout.
fn or_json_failure<T>(result: Result<T, Error>, json: bool) -> Result<T, Error> {
    match (&result, json) {
        (Err(Error::Argument(message)), true) => {
            print!("{}", buildkit_lite::cli::json::usage(message));
        }
        (Err(error), true) => print!("{}", buildkit_lite::cli::json::failed(error)),
        _ => {}
    }
    result
}

/// Validates; warnings go to stderr (exit 0, unless `--deny-warnings`).
fn check(path: &Utf8Path, json: bool, deny_warnings: bool) -> Result<(), Error> {
    let result = buildkit_lite::loaded(path).map(|loaded| {
        let plan = plan::resolve(&loaded);
        let warnings = warnings::warnings(&loaded, &plan);
        (plan, warnings)
    });
    if json {
        print!(
            "{}",
            buildkit_lite::cli::json::checked(path, &result, deny_warnings)
        );
    }
    let (plan, warnings) = result?;
    for warning in &warnings {
        anstream::eprintln!("{WARN}warning:{WARN:#} {path}:{warning}");
    }
    if deny_warnings && !warnings.is_empty() {
        return Err(Error::Warnings {
            path: path.to_owned(),
            count: warnings.len(),
        });
    }
    if !json {
        let (services, checks) = (plan.services.len(), plan.checks.len());
        let n = warnings.len();
        let warned = if n > 0 {
            format!(", {n} warning{}", plural(n))
        } else {
            String::new()
        };
        println!(
            "{path}: ok ({services} service{}, {checks} check{}{warned})",
            plural(services),
            plural(checks)
        );
    }
    Ok(())
}

fn init(dir: &Utf8Path) -> Result<(), Error> {
    let done = buildkit_lite::init::init(dir)?;
    let manifest = &done.manifest;
    println!("wrote {manifest}");
    match &done.schema {
        Some(schema) => println!("wrote {schema}"),
        None => println!(
            "kept the {} that was there",
            buildkit_lite::init::SCHEMA_FILE
        ),
    }
    println!("next:");
    let manifest = buildkit_lite::shell::quote(manifest.as_str());
    println!("  buildkit-lite check -f {manifest}");
    println!("  buildkit-lite build v1 -f {manifest}");
    Ok(())
}

fn render(path: &Utf8Path, out: Option<&Utf8Path>, force: bool) -> Result<(), Error> {
    let plan = buildkit_lite::plan(path)?;
    let tree = render::render(&plan)?;
    match out {
        None => {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(render::listing(&tree)?.as_bytes());
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
    let mut progress = Progress {
        dry_run: opts.dry_run,
        verbose: opts.verbose,
        open: false,
        planned: json.then(Vec::new),
    };
    let built = build::build(&plan, opts, &mut |event| progress.show(event));
    progress.close();
    let Some(built) = or_json_failure(built, json)? else {
        if let Some(steps) = &progress.planned {
            print!("{}", buildkit_lite::cli::json::planned(&opts.tags, steps));
        }
        return Ok(());
    };
    if json {
        print!("{}", buildkit_lite::cli::json::built(&built, &opts.tags));
        return Ok(());
    }
    for platform in &built.platforms {
        for reference in &platform.references {
            let (name, id) = (&platform.platform, &platform.image_id);
            println!("built {reference} ({name}, image id {id})");
        }
    }
    for reference in &built.references {
        println!("built {reference}");
    }
    println!("image id {}", built.image_id);
    match &built.digest {
        Some(digest) if !built.platforms.is_empty() => println!("pushed index {digest}"),
        Some(digest) => println!("pushed {digest}"),
        None => {}
    }
    for platform in &built.platforms {
        if let Some(digest) = &platform.sbom_digest {
            println!("attached the SBOM {digest} ({})", platform.platform);
        }
    }
    if let Some(digest) = &built.sbom_digest {
        println!("attached the SBOM {digest}");
    }
    Ok(())
}

/// What a step without a command line (staging, attaching the SBOM) does, in words.
fn task_words(event: &Event) -> Option<String> {
    match event {
        Event::Stage(context) => Some(format!("stage the build context into {context}")),
        Event::Attach(sbom, repository) => Some(format!(
            "attach the SBOM {sbom} to the image pushed to {repository} (an OCI referrer)"
        )),
        _ => None,
    }
}

/// How a build's events are shown: a dry run's plan on stdout (it is the product); else,
/// on stderr, one line per step ending with its duration, or with `--verbose` the command
/// lines and the children's output streaming between.
struct Progress {
    dry_run: bool,
    verbose: bool,
    /// A step's line is printed and waits for its duration.
    open: bool,
    /// With `--json`, a dry run's plan is gathered here for one document.
    planned: Option<Vec<PlannedStep>>,
}

impl Progress {
    fn show(&mut self, event: Event) {
        if self.dry_run && self.planned.is_some() && self.plan(&event) {
            return;
        }
        match event {
            Event::Step(step) if self.dry_run => println!("would {}:\n    {step}", step.summary),
            Event::Stage(_) | Event::Attach(..) if self.dry_run => {
                println!("would {}", task_words(&event).unwrap_or_default())
            }
            Event::Done(_) if self.dry_run => {}
            Event::Probe(step) if self.dry_run => self.command(step),
            Event::Step(step) | Event::Probe(step) if self.verbose => self.command(step),
            Event::Probe(_) => {}
            Event::Step(step) => self.open(&step.summary),
            Event::Stage(_) | Event::Attach(..) => {
                self.open(&task_words(&event).unwrap_or_default())
            }
            Event::Note(note) => {
                self.close();
                anstream::eprintln!("{STEP}==>{STEP:#} {note}");
            }
            Event::Done(took) if self.open => {
                eprintln!(" ({:.1}s)", took.as_secs_f64());
                self.open = false;
            }
            Event::Done(took) if self.verbose => {
                eprintln!("    done in {:.2}s", took.as_secs_f64())
            }
            Event::Done(_) => {}
        }
    }

    /// A dry run with `--json` gathers its steps: true when `event` is one.
    fn plan(&mut self, event: &Event) -> bool {
        let Some(planned) = &mut self.planned else {
            return false;
        };
        let (summary, command, directory) = match event {
            Event::Step(step) => (step.summary.clone(), Some(step.to_string()), None),
            Event::Stage(context) => (
                "stage the build context".into(),
                None,
                Some(context.to_string()),
            ),
            Event::Attach(..) => (task_words(event).unwrap_or_default(), None, None),
            _ => return false,
        };
        planned.push(PlannedStep {
            summary,
            command,
            directory,
        });
        true
    }

    /// A step with its command line, on lines of their own.
    fn command(&mut self, step: &exec::Step) {
        self.close();
        anstream::eprintln!("{STEP}==>{STEP:#} {}\n    {step}", step.summary);
    }

    /// Starts a step's line; its duration ends it.
    fn open(&mut self, what: &str) {
        self.close();
        anstream::eprint!("{STEP}==>{STEP:#} {what}…");
        let _ = std::io::stderr().flush();
        self.open = true;
    }

    /// Ends a line left open (something came between a step and its end).
    fn close(&mut self) {
        if self.open {
            eprintln!();
            self.open = false;
        }
    }
}

/// `sbom TAG`: the SBOM in the image, as a short table or (`--json`) whole.
fn sbom(path: &Utf8Path, tag: &str, json: bool) -> Result<(), Error> {
    use buildkit_lite::build::{contents, sbom};
    let plan = buildkit_lite::plan(path)?;
    let image = format!("{}:{tag}", plan.image.repository);
    let document = contents::read_from_image(&image)?;
    if json {
        print!("{document}");
        return Ok(());
    }
    let s = sbom::summary(&document).ok_or_else(|| {
        Error::Usage(format!(
            "{image}: {} is no CycloneDX SBOM",
            contents::IN_IMAGE
        ))
    })?;
    println!("{image} (CycloneDX 1.5, {})", contents::IN_IMAGE);
    println!(
        "  crates            {} in the binaries, {} used only to build them",
        s.shipped, s.build_only
    );
    println!("  Debian packages   {}", s.debs);
    if let Some((name, digest)) = &s.base {
        println!("  base              {name} ({digest})");
    }
    if let Some(created) = &s.created {
        println!("  created           {created}");
    }
    Ok(())
}

fn test(path: &Utf8Path, opts: &image_test::Options, json: bool) -> Result<(), Error> {
    let plan = or_json_failure(buildkit_lite::plan(path), json)?;
    // Ctrl-C or SIGTERM: stop the running docker command; the container is removed.
    let _ = ctrlc::set_handler(exec::interrupt);
    let line = |o: &image_test::Outcome| {
        let mark = if o.passed { "ok  " } else { "FAIL" };
        let (kind, name) = (o.kind.name(), &o.name);
        let what = match o.kind {
            image_test::Kind::Stop | image_test::Kind::Container => kind.to_string(),
            _ => format!("{kind} {name}"),
        };
        format!("{mark} {what:<28} {:>6.1}s  {}", o.seconds, o.detail)
    };
    let report = image_test::test(&plan, opts, &mut |outcome| {
        // One line per result as it is known: the product on stdout, unless --json.
        if json {
            eprintln!("{}", line(outcome));
        } else {
            println!("{}", line(outcome));
        }
    });
    let report = or_json_failure(report, json)?;
    if json {
        print!("{}", buildkit_lite::cli::json::tested(&report));
    } else {
        let verdict = match (report.passed, report.probed) {
            (true, true) => "passed",
            (true, false) => "passed: services stayed up; no check or port was probed",
            (false, _) => "FAILED",
        };
        let n = report.results.len();
        let hardened = match report.hardening.is_empty() {
            true => String::new(),
            false => format!(" ({})", report.hardening.join(" ")),
        };
        println!(
            "test {}{hardened}: {verdict} ({n} result{}, {:.1}s)",
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
