"""A virtual GPU for testing device placement on a CPU-only machine.

Inside `with virtual_gpu():` a tensor can be put on `meta:0`, `meta:1`, ..., which stand for `cuda:0`, `cuda:1`, ...:
it becomes a `DevTensor`, a wrapper that reports the virtual device while its data stay an ordinary CPU tensor.
Every aten op is checked against torch's device rules before it runs on the CPU data, so code that would fail on
a GPU with "Expected all tensors to be on the same device" raises `VDeviceError` here, with a Python traceback:

- an op's tensors must share one device, except CPU 0-dim tensors (scalars);
- the indices of advanced indexing may be on the CPU or on the indexed tensor's device;
- copies (`.to`, `copy_`, `.cpu()`) cross devices freely; factories honour `device=`;
- a random op's generator must be on its output's device type (`torch.Generator("meta:0")` makes such a generator);
- `.numpy()` of a GPU tensor fails, `.tolist()` and `.item()` work.

`dispatch(model, device_map)` splits a model over virtual devices the way `device_map="auto"` does (accelerate's hooks).
Point accelerate at the virtual GPU with the environment variable `ACCELERATE_TORCH_DEVICE=meta:0`.

Limits: only the device rules above are simulated, and a little more leniently than CUDA (CPU scalars are accepted by
every op, not only elementwise ones; generators are checked on the torch calls made from Python). There are no kernels,
streams, memory limits or asynchrony: every op computes on the CPU, so CUDA's numerics, dtypes, autocast (mixed
precision fails: autocast has no "meta" device type) and fused optimizers are not exercised. The stand-in is "meta"
because torch has a device guard for it, so autograd runs; code that takes meta tensors for unmaterialised weights
(`t.is_meta`) is misled. `torch.save` stores a virtual tensor as a CPU tensor. Outside `virtual_gpu()`, a CPU tensor
moved to `meta:N` becomes a real, empty meta tensor.
"""
import contextlib
import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

__all__ = ["VDeviceError", "DevTensor", "virtual_gpu", "dispatch"]

aten = torch.ops.aten
CPU = torch.device("cpu")
GPU = "meta"                  # the device type standing for "cuda"

class VDeviceError(RuntimeError):
    "What a real GPU would raise: tensors (or a generator) on the wrong device."

def _dev(d) -> torch.device:
    "`d` as a device, `meta` meaning `meta:0` as `cuda` means `cuda:0`."
    d = torch.device(d)
    return torch.device(GPU, 0) if d.type == GPU and d.index is None else d

class DevTensor(torch.Tensor):
    "A CPU tensor (`elem`) that says it lives on a virtual device."
    __torch_function__ = torch._C._disabled_torch_function_impl

    @staticmethod
    def __new__(cls, elem, device):
        r = torch.Tensor._make_wrapper_subclass(cls, elem.size(), strides=elem.stride(), storage_offset=elem.storage_offset(),
                                                dtype=elem.dtype, layout=elem.layout, device=_dev(device), requires_grad=elem.requires_grad)
        r.elem = elem
        return r

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        with _Ops(): return func(*args, **(kwargs or {}))      # used outside `virtual_gpu()`: the same rules

    def __repr__(self, **kw): return f"DevTensor({self.device}, {self.elem!r})"
    def tolist(self): return self.elem.tolist()
    def numpy(self, *a, **k): raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use Tensor.cpu() first.")
    __array__ = numpy

    def __reduce_ex__(self, proto):                          # torch.save / pickle: the CPU tensor
        e = self.elem.detach()
        return (nn.Parameter(e, self.requires_grad) if getattr(self, "_is_param", False) else e).__reduce_ex__(proto)

def _wrap(t, device):
    return DevTensor(t, device) if isinstance(t, torch.Tensor) and device.type == GPU else t

def _unwrap(t): return t.elem if isinstance(t, DevTensor) else t

class VGenerator(torch.Generator):
    "`torch.Generator(device)`: a CPU generator that reports `device` (a GPU generator when it is virtual)."
    def __new__(cls, device="cpu"):
        g = torch._C.Generator.__new__(cls)
        g._device = _dev(device)
        return g
    def __init__(self, device="cpu"): super().__init__()
    @property
    def device(self): return self._device

def _common_device(func, tensors) -> torch.device:
    "The device of an op on `tensors`: all the same, CPU 0-dim tensors excepted (they go anywhere)."
    devs = {t.device for t in tensors if not (t.device.type == "cpu" and t.dim() == 0)}
    if len(devs) > 1:
        a, b = sorted(map(str, devs))[:2]
        raise VDeviceError(f"[virtual GPU] {func}: Expected all tensors to be on the same device, but found at least two devices, {a} and {b}!")
    return devs.pop() if devs else (tensors[0].device if tensors else CPU)

COPIES = {aten._to_copy.default, aten.copy_.default, aten._copy_from.default, aten._copy_from_and_resize.default, aten.copy.default,
          aten.set_.source_Tensor, aten.lift_fresh.default, aten.lift_fresh_copy.default, aten._foreach_copy_.default}
INDEXING = {aten.index.Tensor, aten.index_put.default, aten.index_put_.default, aten._index_put_impl_.default,
            aten._unsafe_index.Tensor, aten._unsafe_index_put.default}

class _Ops(TorchDispatchMode):
    "Checks each aten op's devices, runs it on the CPU data, and gives its outputs the device the op would give them."
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        if kwargs.get("device") is not None:                                # a factory, `.to(device)`, `zeros_like(device=)`
            device = _dev(kwargs["device"]); kwargs["device"] = CPU
        elif func in COPIES:                                                 # copies cross devices: the destination's
            dst = args[1] if func in (aten._copy_from.default, aten._copy_from_and_resize.default) else args[0]
            device = dst.device if isinstance(dst, torch.Tensor) else CPU    # (_foreach_copy_ returns nothing)
        elif func in INDEXING:                                               # x[idx]: idx on the CPU or on x's device
            for i in args[1]:
                if i is not None and i.device not in (CPU, args[0].device):
                    raise VDeviceError(f"[virtual GPU] {func}: indices should be either on cpu or on the same device as the indexed tensor "
                                       f"({args[0].device}), got {i.device}")
            device = _common_device(func, [args[0]] + [a for a in args[2:] if isinstance(a, torch.Tensor)])
        else:
            device = _common_device(func, tensors)
        out = func(*tree_map(_unwrap, args), **tree_map(_unwrap, kwargs))
        ret = func._schema.returns
        if len(ret) == 1 and ret[0].alias_info is not None and ret[0].alias_info.is_write:   # in place / out=: the tensor written
            return kwargs.get("out", args[0])
        return tree_map(lambda t: _wrap(t, device), out)

FACTORIES = {torch.tensor, torch.as_tensor, torch.scalar_tensor, torch.zeros, torch.ones, torch.empty, torch.full, torch.arange,
             torch.linspace, torch.eye, torch.rand, torch.randn, torch.randint, torch.randperm, torch.empty_strided}

class _Functions(TorchFunctionMode):
    """What the dispatcher cannot see: `torch.tensor(data, device=GPU)` copies `data` in C++ (so: build it on the CPU,
    then wrap it), and the generator an op gets arrives there as a new CPU `Generator` (so: check it here)."""
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        device, gen = kwargs.get("device"), kwargs.get("generator")
        if func in FACTORIES and device is not None and _dev(device).type == GPU and not (args and isinstance(args[0], torch.Tensor)):
            out = _wrap(func(*args, **{**kwargs, "device": CPU}), _dev(device))
        else: out = func(*args, **kwargs)
        if gen is not None and isinstance(out, torch.Tensor) and gen.device.type != out.device.type:
            raise VDeviceError(f"[virtual GPU] {func.__name__}: Expected a '{out.device.type}' device type for generator but found '{gen.device.type}'")
        return out

@contextlib.contextmanager
def virtual_gpu():
    "Inside, `meta:N` devices behave like GPUs (see the module's docstring) and `torch.Generator` is `VGenerator`."
    real = torch.Generator
    torch.Generator = VGenerator
    try:
        with _Functions(), _Ops(): yield
    finally: torch.Generator = real

def _to(x, device):
    "The tensors in `x` (nested tuples, lists, dicts, ModelOutputs) moved to `device`."
    if isinstance(x, torch.Tensor): return x.to(device)
    if hasattr(x, "to_tuple"):                                          # a transformers ModelOutput: changed in place
        for k in list(x.keys()): x[k] = _to(x[k], device)
        return x
    if isinstance(x, (tuple, list)) and not hasattr(x, "_fields"): return type(x)(_to(v, device) for v in x)
    if isinstance(x, dict): return {k: _to(v, device) for k, v in x.items()}
    return x

def dispatch(model:nn.Module, device_map:dict) -> nn.Module:
    """Split `model` over virtual devices like accelerate's `dispatch_model` (`device_map={submodule name: "meta:N"}`):
    weights placed (a tied weight stays tied, on the device of the first module holding it), each mapped submodule's inputs moved to its device
    (KV caches stay put), the model's outputs moved back to its input's device; `model.hf_device_map` set."""
    def device_of(name): return device_map[max((k for k in device_map if name == k or name.startswith(k + ".")), key=len)]
    done = {}
    for mod_name, mod in model.named_modules(remove_duplicate=False):
        for kind in ("_parameters", "_buffers"):
            for n, t in getattr(mod, kind).items():
                if t is None or isinstance(t, DevTensor): continue
                if id(t) not in done:
                    w = DevTensor(t.data, device_of(f"{mod_name}.{n}" if mod_name else n))
                    done[id(t)] = nn.Parameter(w, t.requires_grad) if kind == "_parameters" else w
                getattr(mod, kind)[n] = done[id(t)]
    for name, device in device_map.items():
        def to_device(m, args, kwargs, device=device):
            caches = {k: kwargs.pop(k) for k in ("past_key_values", "cache", "past_key_value") if k in kwargs}
            return _to(args, device), {**_to(kwargs, device), **caches}
        model.get_submodule(name).register_forward_pre_hook(to_device, with_kwargs=True)
    def remember_input_device(m, args, kwargs):
        first = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
        m._io_device = None if first is None else first.device
    def back_to_input_device(m, args, kwargs, out): return out if m._io_device is None else _to(out, m._io_device)
    model.register_forward_pre_hook(remember_input_device, with_kwargs=True)
    model.register_forward_hook(back_to_input_device, with_kwargs=True)
    model.hf_device_map = dict(device_map)
    return model
