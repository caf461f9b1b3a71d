"use strict"; // the wallboard page is being built
