"""vit_lessons.machine: the run record, and silencing what native code prints past Python."""

import os
import subprocess
import sys

from vit_lessons.machine import environment, loadavg, quiet_native_stderr


def test_native_stderr_is_dropped_inside_the_block_only(capfd):
    os.write(2, b"before\n")
    with quiet_native_stderr():
        os.write(2, b"native noise\n")  # what a C++ library does: straight to descriptor 2
        subprocess.run([sys.executable, "-c", "import os; os.write(2, b'child noise\\n')"], check=True)
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "before\nafter\n"


def test_descriptor_2_is_restored_when_the_block_raises(capfd):
    try:
        with quiet_native_stderr():
            raise KeyError("inside")
    except KeyError:
        pass
    os.write(2, b"still here\n")
    assert capfd.readouterr().err == "still here\n"


def test_record_names_torch_and_the_machine():
    env = environment()
    assert env["torch"] and env["cpu_count"] >= 1
    assert loadavg() == "" or len(loadavg().split()) == 3
