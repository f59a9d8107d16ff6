from shoebox.cli import main

main()
