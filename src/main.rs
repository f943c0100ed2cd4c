//! The `buildkit-lite` executable: parses the command line, calls the library, and is the
//! one place that prints. Exit status: 0 success, 1 any failure, 2 a usage error (clap).

use std::io::Write;
use std::process::ExitCode;

use buildkit_lite::build::{self, Event};
use buildkit_lite::cli::{Cli, Command};
use buildkit_lite::stage::{self, Replace};
use buildkit_lite::{Error, exec, render, schema};
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
        Command::Check { manifest } => {
            let plan = buildkit_lite::plan(&manifest.path)?;
            println!(
                "{}: ok ({} service{}, {} check{})",
                manifest.path,
                plan.services.len(),
                plural(plan.services.len()),
                plan.checks.len(),
                plural(plan.checks.len())
            );
        }
        Command::Schema => print!("{}", schema::json()),
        Command::Render {
            manifest,
            out,
            force,
        } => {
            let plan = buildkit_lite::plan(&manifest.path)?;
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
                    stage::write_tree(&tree, &dir, &manifest.path, replace)?;
                    println!("rendered {} files into {dir}", tree.len());
                }
            }
        }
        Command::Build {
            tags,
            manifest,
            dry_run,
            no_cache,
            builder,
        } => {
            let plan = buildkit_lite::plan(&manifest.path)?;
            // Ctrl-C or SIGTERM: stop the running child; the build then fails as interrupted.
            let _ = ctrlc::set_handler(exec::interrupt);
            let opts = build::Options {
                tags,
                dry_run,
                no_cache,
                builder,
            };
            let built = build::build(&plan, &opts, &mut |event| match event {
                Event::Step(step) if dry_run => eprintln!("would {}:\n    {step}", step.summary),
                Event::Step(step) | Event::Probe(step) => {
                    eprintln!("==> {}\n    {step}", step.summary)
                }
                Event::Stage(context) if dry_run => {
                    eprintln!("would stage the build context into {context}")
                }
                Event::Stage(context) => eprintln!("==> staging the build context into {context}"),
                Event::Note(note) => eprintln!("==> {note}"),
            })?;
            if let Some(built) = built {
                for reference in &built.references {
                    println!("built {reference}");
                }
                println!("image id {}", built.image_id);
            }
        }
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
