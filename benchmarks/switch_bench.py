"""Software hot-swap benchmark: rebuild ResNet-18/50-sized weights from wavelet components.

Usage: python benchmarks/switch_bench.py [--model resnet18|resnet50|all] [--bits all] [--repeats 5]
Prints a table of median times on one core beside the paper's 1.2 s CPU figure for ResNet-50.
Same code as ``wavebits switch-bench``.
"""

from wavebits.cli import cli

if __name__ == "__main__":
    cli.main(args=["switch-bench", *__import__("sys").argv[1:]], prog_name="switch_bench.py")
