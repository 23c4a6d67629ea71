"""mvc.save, step 3: repeated submodules → [blocks] with `repeat` (a pass over flat layers).

An *instance* is a submodule (not a leaf) whose layers are contiguous in the flat list, read
one value from outside and are read from outside only through their last layer. Instances of
the same class are merged into one block: a layer some instances lack gets `when`, an option
whose value differs between instances becomes an argument (arguments with the same values in
every instance are one), the most common value its default. Classes nested deepest are folded
first, so a block may use another. Then consecutive instances named P.0 ... P.n-1, each
reading the previous, become one layer `P` with `repeat = n` and `${index == 0 ? a : b}`
arguments (at the top level only). Containers (nn.Sequential, nn.ModuleList) are folded only
when they hold vocabulary modules only and lie outside other instances.
The result is checked by mvc.save like the flat one (and the flat one used if it fails).
"""
import copy
import re
from collections import Counter

from torch import nn

from ._export import Layer, MODULES, OPS

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


class Block:
    def __init__(self, name, args, defaults, layers):
        self.name, self.args, self.defaults, self.layers = name, args, defaults, layers
        self.inputs = ["x"]
        self.outputs = None


def _base(ref):
    return ref.split("[", 1)[0]


def _under(name, p):
    return name.startswith(p + ".")


class _Fail(Exception):
    pass


def _instance(layers, p):
    """(start, end) of instance `p`'s layers in `layers`, its external input, or None."""
    idx = [i for i, l in enumerate(layers) if _under(l.name, p)]
    if len(idx) < 2 or idx != list(range(idx[0], idx[-1] + 1)):
        return None
    a, b = idx[0], idx[-1] + 1
    inside = {l.name for l in layers[a:b]}
    ext = []
    for l in layers[a:b]:
        for r in l.inputs:
            if _base(r) not in inside and r not in ext:
                ext.append(r)
    if len(ext) != 1:
        return None
    last = layers[b - 1]
    if last.n_outputs != 1 or last.when is not None:
        return None
    for l in layers[:a] + layers[b:]:
        for r in l.inputs:
            if _base(r) in inside and r != last.name:
                return None
    return a, b, ext[0]


def _local(ref, p, ext):
    if ref == ext:
        return "x"
    return ref[len(p) + 1:]


def _merge_order(seqs):
    order = []
    for seq in seqs:
        prev = -1
        for n in seq:
            if n in order:
                prev = order.index(n)
            else:
                order.insert(prev + 1, n)
                prev += 1
    for seq in seqs:
        pos = [order.index(n) for n in seq]
        if pos != sorted(pos):
            raise _Fail()
    return order


def _ident(s):
    s = re.sub(r"[^A-Za-z0-9_]", "_", s)
    return s if s and not s[0].isdigit() else "l" + s


class _Args:
    """Block arguments: one per distinct vector of per-instance values."""

    def __init__(self):
        self.by_vec, self.names = {}, {}

    def get(self, vec, hint):
        """The argument for `vec` (None: an instance without the layer, any value will do)."""
        for name, v in self.names.items():
            if len(v) == len(vec) and all(a is None or repr(a) == repr(b) for a, b in zip(vec, v)):
                return name
        if any(a is None for a in vec):
            known = [a for a in vec if a is not None]
            vec = tuple(a if a is not None else known[0] for a in vec)
        key = repr(vec)
        if key in self.by_vec:
            return self.by_vec[key]
        name = hint
        k = 2
        while name in self.names:
            name = f"{hint}{k}" if not hint[-1].isdigit() else f"{hint}_{k}"
            k += 1
        self.by_vec[key] = name
        self.names[name] = vec
        return name


def _lit(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return "'" + v + "'"
    return repr(v)


def _fold_group(layers, insts, block_name):
    """Folds instances [(path, a, b, ext)] (same class) into one block; returns the Block and
    the instance layers (name, type, args)."""
    locs = []
    for p, a, b, ext in insts:
        d = {}
        for l in layers[a:b]:
            d[l.name[len(p) + 1:]] = l
        locs.append(d)
    order = _merge_order([list(d) for d in locs])
    args = _Args()
    blayers = []
    present = {}
    for name in order:
        ls = [d.get(name) for d in locs]
        types = {l.type for l in ls if l is not None}
        if len(types) != 1:
            raise _Fail()
        tmpl = next(l for l in ls if l is not None)
        if any(l is not None and l.n_outputs != tmpl.n_outputs for l in ls):
            raise _Fail()
        bl = Layer(name, tmpl.type, [], {}, "", None, tmpl.n_outputs)
        # run = false and shares (mvc.arch/2): the same in every instance; shares local to it
        if len({l.run for l in ls if l is not None}) != 1:
            raise _Fail()
        bl.run = tmpl.run
        if any(l is not None and bool(l.shares) != bool(tmpl.shares) for l in ls):
            raise _Fail()
        if tmpl.shares:
            local = {l.shares[len(p) + 1:] if _under(l.shares, p) else None
                     for (p, a, b, ext), l in zip(insts, ls) if l is not None}
            if len(local) != 1 or None in local:
                raise _Fail()
            bl.shares = local.pop()
        pres = tuple(l is not None for l in ls)
        present[name] = pres
        if not all(pres):
            an = args.get(pres, _ident(name.split(".")[0]))
            bl.when = "${args.%s}" % an
        keys = []
        for l in ls:
            if l is not None:
                for k in l.options:
                    if k not in keys:
                        keys.append(k)
        rank = {k: i for i, k in enumerate(getattr(tmpl, "order", []))}
        keys.sort(key=lambda k: rank.get(k, len(rank)))
        for k in keys:
            vec = []
            for l in ls:
                if l is None:
                    vec.append(None)
                elif k in l.options:
                    vec.append(l.options[k])
                elif k in l.defaults:
                    vec.append(l.defaults[k])
                else:
                    raise _Fail()
            vals = [v for v in vec if v is not None]
            if all(v == vals[0] and type(v) is type(vals[0]) for v in vals) and \
                    all(l is None or k in l.options for l in ls):
                bl.options[k] = vals[0]
            else:
                bl.options[k] = "${args.%s}" % args.get(tuple(vec), k)
        # inputs, position by position
        nin = {len(l.inputs) for l in ls if l is not None}
        if len(nin) != 1:
            raise _Fail()
        ins, implicit = [], True
        for j in range(nin.pop()):
            vec = []
            for (p, a, b, ext), l in zip(insts, ls):
                vec.append(None if l is None else _local(l.inputs[j], p, ext))
            vals = [v for v in vec if v is not None]
            if all(v == vals[0] for v in vals):
                ins.append(vals[0])
            else:
                filled = tuple(v if v is not None else vals[0] for v in vec)
                two = sorted(set(filled))
                cond = next((an for an, avec in args.names.items() if len(two) == 2 and all(isinstance(x, bool)
                            for x in avec) and len({(x, y) for x, y in zip(avec, filled)}) == 2), None)
                if cond is not None:
                    t = next(y for x, y in zip(args.names[cond], filled) if x)
                    f = next(y for x, y in zip(args.names[cond], filled) if not x)
                    ins.append("${args.%s ? '%s' : '%s'}" % (cond, t, f))
                else:
                    ins.append("${args.%s}" % args.get(filled, _ident(name) + "_input"))
        # implicit input: the last layer present before this one in every instance, else x
        for i, d in enumerate(locs):
            l = ls[i]
            if l is None:
                continue
            before = [m for m in order[:order.index(name)] if m in d and d[m].run]
            prev = before[-1] if before else "x"
            if [_local(r, insts[i][0], insts[i][3]) for r in l.inputs] != [prev]:
                implicit = False
        bl.inputs = ins
        bl.write_inputs = not implicit
        blayers.append(bl)
    # arguments: defaults are the most common values (when seen twice), instances write the rest
    defaults, required = {}, []
    for an, vec in args.names.items():
        (v, c), = Counter(repr(x) for x in vec).most_common(1)
        if c >= 2:
            defaults[an] = next(x for x in vec if repr(x) == v)
        else:
            required.append(an)
    block = Block(block_name, required, defaults, blayers)
    inst_layers = []
    for i, (p, a, b, ext) in enumerate(insts):
        opts = {an: vec[i] for an, vec in args.names.items() if an not in defaults or repr(defaults[an]) != repr(vec[i])}
        il = Layer(p, block_name, [ext], opts, "", None, 1)
        il.all_args = {an: vec[i] for an, vec in args.names.items()}
        il.defaults = {an: d for an, d in defaults.items() if an not in opts}
        inst_layers.append(il)
    return block, inst_layers


def _rename(layers, outputs, renames):
    def r(x):
        return renames.get(x, x)
    for l in layers:
        l.inputs = [r(x) for x in l.inputs]
    return [r(x) for x in outputs]


def _repeat(layers, outputs, blocks):
    """Runs P.0 ... P.n-1 of one block, each reading the previous → one layer with repeat."""
    out, i = [], 0
    defaults = {b.name: b.defaults for b in blocks}
    while i < len(layers):
        l = layers[i]
        m = re.fullmatch(r"(.+)\.0", l.name)
        run = [l]
        if m and hasattr(l, "all_args"):
            p = m.group(1)
            j = i + 1
            while j < len(layers) and layers[j].name == f"{p}.{len(run)}" and layers[j].type == l.type and \
                    hasattr(layers[j], "all_args") and layers[j].inputs == [run[-1].name]:
                run.append(layers[j])
                j += 1
        if len(run) < 2 or any(x.name == m.group(1) for x in layers):
            out.append(l)
            i += 1
            continue
        p = m.group(1)
        inner = {x.name for x in run[:-1]}
        if any(_base(r) in inner for x in layers[:i] + layers[i + len(run):] for r in x.inputs) or \
                any(_base(o) in inner for o in outputs):
            out.append(l)
            i += 1
            continue
        opts, ok = {}, True
        for an in run[0].all_args:
            vec = [x.all_args[an] for x in run]
            d = defaults[l.type].get(an, object())
            if all(repr(v) == repr(vec[0]) for v in vec):
                if repr(vec[0]) != repr(d):
                    opts[an] = vec[0]
                continue
            if any(isinstance(v, (list, dict)) for v in vec):
                ok = False
                break
            opts[an] = "${" + _index_expr(vec) + "}"
        if not ok:
            out.append(l)
            i += 1
            continue
        nl = Layer(p, l.type, list(run[0].inputs), opts, "", None, 1)
        nl.repeat = len(run)
        nl.defaults = {an: d for an, d in defaults[l.type].items() if an not in opts}
        out.append(nl)
        outputs = _rename(layers[i + len(run):], outputs, {run[-1].name: p})
        i += len(run)
    return out, outputs


def _index_expr(vec):
    """An expression of `index` giving vec[index]: the last value is the fallback."""
    last = vec[-1]
    parts = []
    for k, v in enumerate(vec[:-1]):
        if repr(v) != repr(last):
            parts.append(f"index == {k} ? {_lit(v)} : ")
    return "".join(parts) + _lit(last)


def fold(root, layers, outputs, input_names):
    """(blocks, layers, outputs) with repeated submodules folded."""
    layers = [copy.copy(l) for l in layers]
    for l in layers:
        l.inputs, l.options = list(l.inputs), dict(l.options)
    outputs = list(outputs)
    modules = dict(root.named_modules())
    types = set(MODULES)
    blocks = []
    used_names = {l.type for l in layers} | set(MODULES.values()) | {op for op, _ in OPS.values()}

    def candidate(p):
        m = modules[p]
        if type(m) in types:
            return False
        if type(m) in _CONTAINERS:
            if any(type(c) not in types for c in m.children()):
                return False  # a list of blocks: a `repeat`, not a block
            parts = p.split(".")
            for k in range(1, len(parts)):
                if type(modules.get(".".join(parts[:k]))) not in _CONTAINERS:
                    return False
        return True

    groups = {}
    for p, m in modules.items():
        if p and candidate(p):
            groups.setdefault(type(m).__name__, []).append(p)
    order = sorted(groups, key=lambda c: -max(p.count(".") for p in groups[c]))
    for cls in order:
        paths = groups[cls]
        insts = []
        for p in paths:
            r = _instance(layers, p)
            if r is not None:
                insts.append((p, *r))
        if len(insts) < 2:
            continue
        try:  # all instances in one block, or one block per structure
            _fold_group(layers, insts, "?")
            parts = [insts]
        except _Fail:
            by = {}
            for inst in insts:
                p, a, b, ext = inst
                key = tuple((l.name[len(p) + 1:], l.type) for l in layers[a:b])
                by.setdefault(key, []).append(inst)
            parts = [g for g in by.values() if len(g) >= 2]
        for k, part in enumerate(parts):
            part = [(p, *r) for p, r in ((q[0], _instance(layers, q[0])) for q in part) if r is not None]
            if len(part) < 2:
                continue
            name, n = cls, 2
            while name in used_names:  # a second structure of the class, or a vocabulary name
                name, n = f"{cls}{n}", n + 1
            try:
                block, inst_layers = _fold_group(layers, part, name)
            except _Fail:
                continue
            used_names.add(name)
            blocks.append(block)
            # replace each instance's layers by its instance layer (from the back: indices hold)
            renames = {}
            for (p, a, b, ext), il in sorted(zip(part, inst_layers), key=lambda t: -t[0][1]):
                renames[layers[b - 1].name] = p
                layers[a:b] = [il]
            outputs = _rename(layers, outputs, renames)
    layers, outputs = _repeat(layers, outputs, blocks)
    return blocks, layers, outputs
