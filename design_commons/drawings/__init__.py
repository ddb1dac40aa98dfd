"""DXF drawings for laser cutting, engraving, CNC routing and vinyl cutting.

:func:`validate_drawing` reads a DXF (R12 to R2018, ASCII or binary, damaged files through
ezdxf's recovery), resolves its unit, flattens model space into 2D cut contours in mm and
reports what a lab needs: extents, closed and open contours, cut length, engraving texts.
"""
from __future__ import annotations

from design_commons.drawings.inspection import validate_drawing

__all__ = ["validate_drawing"]
