"""Demo catalog content, made at first start from data that ships with the packages."""

from aiplayground.demo.content import load_demo

__all__ = ["load_demo"]
