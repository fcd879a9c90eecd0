#!/usr/bin/env python3
# Self instructions per function of callgrind dumps (bench/micro-ka-callgrind.js), JIT code named
# from node's --perf-basic-prof map (/tmp/perf-<pid>.map), grouped, per request; with two dumps,
# the difference (B − A) sorted by size.
#   micro-ka-annotate.py DUMP[:REQUESTS] [DUMP2[:REQUESTS]] [--top=40] [--group]
import re
import sys
import bisect
from collections import defaultdict


def perf_map(pid):
    rows = []
    try:
        with open(f'/tmp/perf-{pid}.map') as fh:
            for line in fh:
                start, size, name = line.rstrip('\n').split(' ', 2)
                rows.append((int(start, 16), int(size, 16), name))
    except FileNotFoundError:
        pass
    rows.sort()
    return rows


def jit_name(rows, starts, addr):
    i = bisect.bisect_right(starts, addr) - 1
    if i >= 0 and addr < rows[i][0] + rows[i][1]:
        return rows[i][2]
    return None


def self_costs(path):
    pid = re.search(r'callgrind\.out\.(\d+)', path).group(1)
    rows = perf_map(pid)
    starts = [r[0] for r in rows]
    names = {}  # compressed ids: (id) -> name
    objs = {}
    costs = defaultdict(int)
    fn = None
    obj = None
    in_call = False
    with open(path) as fh:
        for line in fh:
            if line.startswith('fn='):
                fn = resolve(line[3:].strip(), names)
                in_call = False
                continue
            if line.startswith('ob='):
                obj = resolve(line[3:].strip(), objs)
                continue
            if line.startswith(('cfn=', 'cfi=', 'cfl=', 'cob=')):
                if line.startswith('cfn='):
                    resolve(line[4:].strip(), names)
                if line.startswith('cob='):
                    resolve(line[4:].strip(), objs)
                continue
            if line.startswith('calls='):
                in_call = True
                continue
            if line and (line[0].isdigit() or line[0] in '+-*'):
                parts = line.split()
                if in_call:
                    in_call = False  # the inclusive cost line of a call: not self
                    continue
                if len(parts) >= 2 and fn is not None:
                    costs[(fn, obj)] += int(parts[1])
    out = defaultdict(int)
    for (f, o), c in costs.items():
        name = f
        m = re.fullmatch(r'0x([0-9a-fA-F]+)', f)
        if m:
            n = jit_name(rows, starts, int(m.group(1), 16))
            name = f'JS {n}' if n else f'??? {o}'
        elif o and not o.endswith('node'):
            name = f'{f} [{o.split("/")[-1]}]'
        out[name] += c
    return out


def resolve(token, table):
    m = re.match(r'\((\d+)\)(?: (.*))?', token)
    if m:
        if m.group(2) is not None:
            table[m.group(1)] = m.group(2)
        return table.get(m.group(1), token)
    return token


def group(name):
    if name.startswith('JS '):
        n = name[3:]
        if 'Builtin:' in n or n.startswith('Builtin'):
            return 'JS builtins'
        if 'resetwatch' in n or '/dist/agent' in n or '/dist/exporters' in n:
            return 'JS agent'
        if 'node:' in n:
            return 'JS node'
        return 'JS other'
    if name.startswith('v8::internal::compiler') or 'Turbofan' in name or 'Maglev' in name:
        return 'V8 compiler'
    if name.startswith('v8::internal::Heap') or 'Scavenge' in name or 'Mark' in name or 'GC' in name:
        return 'V8 GC'
    if name.startswith('v8::') or name.startswith('Builtins_'):
        return 'V8 runtime/builtins'
    if '[libc' in name:
        return 'libc'
    if name.startswith('uv_') or name.startswith('uv__'):
        return 'libuv'
    if name.startswith('node::'):
        return 'node C++'
    return 'other'


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    top = 40
    grouped = '--group' in sys.argv
    for a in sys.argv[1:]:
        if a.startswith('--top='):
            top = int(a[6:])
    dumps = []
    for a in args:
        path, _, n = a.partition(':')
        dumps.append((path, self_costs(path), int(n) if n else 1))
    if grouped:
        dumps = [(p, agg(c), n) for p, c, n in dumps]
    if len(dumps) == 1:
        p, c, n = dumps[0]
        total = sum(c.values())
        print(f'{p}: {total / n:,.0f} per request')
        for name, v in sorted(c.items(), key=lambda kv: -kv[1])[:top]:
            print(f'{v / n:10,.0f}  {name}')
        return
    (pa, ca, na), (pb, cb, nb) = dumps[:2]
    ta = sum(ca.values()) / na
    tb = sum(cb.values()) / nb
    print(f'A {pa}: {ta:,.0f}   B {pb}: {tb:,.0f}   B−A {tb - ta:+,.0f} per request')
    keys = set(ca) | set(cb)
    diffs = sorted(((cb.get(k, 0) / nb - ca.get(k, 0) / na, k) for k in keys), key=lambda d: -abs(d[0]))
    for d, k in diffs[:top]:
        print(f'{d:+10,.0f}  {ca.get(k, 0) / na:10,.0f} {cb.get(k, 0) / nb:10,.0f}  {k}')


def agg(c):
    out = defaultdict(int)
    for k, v in c.items():
        out[group(k)] += v
    return out


if __name__ == '__main__':
    main()
