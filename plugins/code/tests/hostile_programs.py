"""Hostile programs for the sandbox tests. Each, if the sandbox failed, would print "ESCAPED" (the expected
output of its test case, so escaping would *score*), touch the canary, outlive its sample or kill the
process that runs it; the tests check each of those.

``{canary}``, ``{project}``, ``{marker}``, ``{port}`` and ``{secret_env}`` are filled in by the tests.
"""

HOSTILE = {
    "fork bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
    "thread bomb": "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,)).start()\n",
    "memory bomb": "x = []\nwhile True:\n    x.append(bytearray(50 * 2**20))\n",
    "one huge allocation": "x = bytearray(64 * 2**30)\nprint('ESCAPED')\n",
    "forked memory bomb": (
        "import os\nfor _ in range(64):\n    if os.fork() == 0:\n        x = []\n        while True:\n"
        "            x.append(bytearray(50 * 2**20))\nos.wait()\n"),
    "infinite loop": "while True:\n    pass\n",
    "sleep past the limit": "import time\ntime.sleep(3600)\nprint('ESCAPED')\n",
    "ignores SIGTERM": "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.01)\n",
    "double-fork daemon": (
        "import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        os.close(1); os.close(2)\n"
        "        os.execv('/usr/bin/python3', ['python3', '-c', 'import time; time.sleep(120)', '{marker}'])\n"
        "    os._exit(0)\n"),
    "daemon that writes later": (
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    os.close(1); os.close(2)\n    time.sleep(2)\n"
        "    open({canary!r}, 'w').write('pwned')\n    os._exit(0)\n"),
    "overwrite the canary": "open({canary!r}, 'w').write('pwned')\nprint('ESCAPED')\n",
    "delete the canary": "import os\nos.remove({canary!r})\nprint('ESCAPED')\n",
    "write next to the canary": "import os\nopen(os.path.join(os.path.dirname({canary!r}), 'pwned'), 'w').write('x')\nprint('ESCAPED')\n",
    "write to the host tmp": "open('/tmp/grpo_code_pwned', 'w').write('x')\nimport os\nprint('ESCAPED' if os.path.exists('/work') else 'no')\n",
    "write under /usr": "open('/usr/grpo_code_pwned', 'w').write('x')\nprint('ESCAPED')\n",
    "fill the work directory": (
        "i = 0\nwhile True:\n    open(f'/tmp/f{{i}}', 'wb').write(b'x' * 2**20)\n    i += 1\n"),
    "fill /dev/shm": "i = 0\nwhile True:\n    open(f'/dev/shm/f{{i}}', 'wb').write(b'x' * 2**20)\n    i += 1\n",
    "read /etc/shadow": "print('ESCAPED' if open('/etc/shadow').read() else '')\n",
    "read /etc/passwd": "print('ESCAPED' if open('/etc/passwd').read() else '')\n",
    "read the project": "print('ESCAPED' if open({project!r}).read() else '')\n",
    "list the home directory": "import os\nprint('ESCAPED' if os.listdir(os.path.expanduser('~root')) or os.listdir('/root') else '')\n",
    "trainer environment": "import os\nprint('ESCAPED' if {secret_env!r} in os.environ else '')\n",
    "parent's environment": (
        "import os\nfound = False\nfor pid in os.listdir('/proc'):\n    if pid.isdigit():\n        try:\n"
        "            found |= {secret_env!r}.encode() in open(f'/proc/{{pid}}/environ', 'rb').read()\n"
        "        except OSError:\n            pass\nprint('ESCAPED' if found else '')\n"),
    "socket to 127.0.0.1": (
        "import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint('ESCAPED')\n"),
    "socket to another address": (
        # UDP connect() sends no packet: it only needs a route, which a sandbox without a network lacks.
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.connect(('192.0.2.1', 9))\n"
        "print('ESCAPED')\n"),
    "network interfaces": "import socket\nprint('ESCAPED' if [n for _, n in socket.if_nameindex() if n != 'lo'] else '')\n",
    "host abstract socket": (
        "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('\\0grpo_code_test_{port}')\nprint('ESCAPED')\n"),
    "kill the parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
    "kill everything": (
        "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\n"
        "for pid in range(1, 5000):\n    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\n"
        "print('ESCAPED')\n"),
    "flood stdout": "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
    "flood stderr": "import sys\nwhile True:\n    sys.stderr.write('x' * 65536)\n",
    "one huge line": "print('ESCAPED' + 'x' * 10**9)\n",
    "ctypes crash": "import ctypes\nctypes.string_at(0)\nprint('ESCAPED')\n",
    "stack overflow": "import sys\nsys.setrecursionlimit(10**8)\ndef f(n):\n    return f(n + 1)\nf(0)\n",
    "become root": "import os\nos.setuid(0)\nprint('ESCAPED')\n",
    "nested user namespace": (
        "import ctypes\nassert ctypes.CDLL(None).unshare(0x10000000) == 0\nprint('ESCAPED')\n"),
    "mount": "import ctypes\nlibc = ctypes.CDLL(None)\nassert libc.mount(b'none', b'/tmp', b'tmpfs', 0, None) == 0\nprint('ESCAPED')\n",
    "escape through /proc/1/root": "import os\nprint('ESCAPED' if os.path.exists('/proc/1/root/work') or os.path.exists('/proc/1/root/etc/shadow') else '')\n",
    "exit early to fake a pass": "import sys\nsys.exit(0)\n",
    "os._exit early to fake a pass": "import os\nos._exit(0)\n",
    "huge output then exit 0": "print('ESCAPED\\n' * 10**7)\n",
}
