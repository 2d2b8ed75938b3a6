from swissai.cli.main import run

run()
